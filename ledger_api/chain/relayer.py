"""The relayer: the API's one account, signing locally and keeping many transactions in flight.

Patients never hold gas; every write the API makes goes out from this account. Two properties
matter and are tested against a real node:

- **Nonces.** The next nonce is fetched once (``pending``) and then incremented locally under a
  lock, so threads never reuse one and never wait for each other's receipts. A node answering
  "nonce too low" (another process used the key) makes the relayer resync and re-sign. If a
  reserved nonce cannot be sent at all, a zero-value self-transfer fills the hole, because every
  later nonce would otherwise be stuck behind it forever.
- **Rollbacks.** A chain node restarted from an older state (anvil's ``--state`` file, a
  backup) forgets transactions: the local nonce is then ahead of the chain's and every later
  transaction would wait behind the gap. A wait that stalls compares the node's pending nonce
  with the local one and resyncs on any disagreement, and re-sends (new nonce, same calldata)
  the transactions it waits for that the node no longer knows. No restart is needed.
- **No waiting to send.** :meth:`Relayer.send` returns the hash as soon as the node accepted the
  raw transaction; :meth:`Relayer.wait` / :meth:`Relayer.wait_many` collect receipts later
  (receipts in batched JSON-RPC requests).

Fees come from the node (``eth_gasPrice``, ``baseFeePerGas``), so the same code pays nothing on
our zero-gas dev chain and the market price on Besu or geth. Reverts are decoded into the
contract's custom error (:class:`~ledger_api.chain.errors.TransactionRevertedError`): before sending
when the gas is estimated, or after mining by replaying the call on the parent block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_keys import keys
from web3 import Web3

from crypto.addresses import to_checksum_address
from ledger_api.chain.connection import chain_id, rpc, rpc_batch
from ledger_api.chain.errors import (
    ChainConnectionError,
    NonceTooLowError,
    ReceiptTimeoutError,
    RpcError,
    TransactionRejectedError,
    TransactionRevertedError,
)
from ledger_api.chain.fees import Fees, read_fees
from ledger_api.chain.recovery import TRANSFER_GAS, NonceRecoveryMixin
from ledger_api.chain.revert import ErrorDecoder, error_decoder, revert_data_from_rpc_error
from ledger_api.chain.txsign import sign_legacy

log = logging.getLogger(__name__)

GAS_MARGIN = 1.25
FEE_TTL = 5.0
RECEIPT_BATCH = 500
# First pause between receipt polls, growing 1.5x per poll up to 0.5 s. Short, because an
# automining node has the receipt a millisecond after the send and a miss there would add the
# whole pause to a read or share; on a chain with 1-5 s blocks it costs a dozen cheap polls.
POLL_INTERVAL = 0.003


@dataclass(frozen=True)
class Receipt:
    """A mined transaction, with its raw logs for the typed wrappers to decode."""

    tx_hash: str
    block_number: int
    gas_used: int
    status: int
    logs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_rpc(cls, raw: dict[str, Any]) -> Receipt:
        return cls(
            tx_hash=raw["transactionHash"],
            block_number=int(raw["blockNumber"], 16),
            gas_used=int(raw["gasUsed"], 16),
            status=int(raw.get("status", "0x1"), 16),
            logs=list(raw.get("logs", [])),
        )


class Relayer(NonceRecoveryMixin):
    """One signing account; thread-safe; see the module docstring for the nonce rules."""

    def __init__(
        self,
        w3: Web3,
        private_key: str | bytes,
        *,
        gas_limit: int | None = None,
        gas_margin: float = GAS_MARGIN,
        decoder: ErrorDecoder | None = None,
        receipt_timeout: float = 120.0,
        poll_interval: float = POLL_INTERVAL,
        nudge_after: float | None = 5.0,
    ) -> None:
        self.w3 = w3
        self._account = Account.from_key(private_key)
        self._key = keys.PrivateKey(bytes(self._account.key))
        self.gas_limit = gas_limit
        self.gas_margin = gas_margin
        self.decoder = decoder or error_decoder()
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.nudge_after = nudge_after
        self.chain_id = chain_id(w3)
        self._lock = threading.RLock()
        self._nonce: int | None = None
        self._fees: Fees | None = None
        self._fees_at = 0.0
        # what was sent and not yet seen mined, to send again if a rollback erases it
        self._inflight: dict[str, tuple[str, bytes, int, int]] = {}

    @property
    def address(self) -> str:
        return str(self._account.address)

    # -- fees and nonces -------------------------------------------------------------------

    def fees(self) -> Fees:
        """Current fee bid, re-read from the node at most every few seconds."""
        now = time.monotonic()
        if self._fees is None or now - self._fees_at > FEE_TTL:
            self._fees = self._read_fees()
            self._fees_at = now
        return self._fees

    def _read_fees(self) -> Fees:
        return read_fees(self.w3)

    def pending_nonce(self) -> int:
        return int(rpc(self.w3, "eth_getTransactionCount", [self.address, "pending"]), 16)

    def resync_nonce(self) -> None:
        """Forget the local nonce; the next send fetches the node's pending count."""
        with self._lock:
            self._nonce = None

    def _remember(self, tx_hash: str, call: tuple[str, bytes, int, int]) -> None:
        if len(self._inflight) >= 10_000:  # receipts never collected: forget the oldest
            for old in list(self._inflight)[:1_000]:
                self._inflight.pop(old, None)
        self._inflight[tx_hash] = call

    def _reserve(self, count: int = 1) -> int:
        """First of ``count`` consecutive nonces; caller holds the lock."""
        if self._nonce is None:
            self._nonce = self.pending_nonce()
        first = self._nonce
        self._nonce += count
        return first

    # -- sending ---------------------------------------------------------------------------

    def _sign(
        self, *, nonce: int, to: str, data: bytes, gas: int, value: int, fees: Fees
    ) -> tuple[str, str]:
        if fees.gas_price is not None:
            return sign_legacy(
                self._key,
                nonce=nonce,
                gas_price=fees.gas_price,
                gas=gas,
                to=to,
                value=value,
                data=data,
                chain_id=self.chain_id,
            )
        tx: dict[str, Any] = {
            "to": to,
            "data": data,
            "gas": gas,
            "value": value,
            "nonce": nonce,
            "chainId": self.chain_id,
            **fees.tx_fields(),
        }
        signed = self._account.sign_transaction(tx)
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()

    def estimate_gas(self, *, to: str, data: bytes, value: int = 0) -> int:
        """Gas for the call plus a margin; a revert raises before anything is sent."""
        params = {"from": self.address, "to": to, "data": "0x" + data.hex(), "value": hex(value)}
        try:
            estimate = int(rpc(self.w3, "eth_estimateGas", [params]), 16)
        except RpcError as exc:
            self._raise_if_revert(exc)
            raise
        return int(estimate * self.gas_margin)

    def call(self, *, to: str, data: bytes, block: str = "latest") -> bytes:
        """``eth_call`` from the relayer's address; a revert raises the decoded error."""
        params = {"from": self.address, "to": to, "data": "0x" + data.hex()}
        try:
            result = rpc(self.w3, "eth_call", [params, block])
        except RpcError as exc:
            self._raise_if_revert(exc)
            raise
        return bytes.fromhex(result[2:])

    def send(self, *, to: str, data: bytes, gas: int | None = None, value: int = 0) -> str:
        """Sign and hand one transaction to the node; returns its hash without waiting.

        Without ``gas`` (and no configured ``gas_limit``) the gas is estimated, which also
        reports a revert as :class:`TransactionRevertedError` before anything is sent.
        """
        to = to_checksum_address(to)
        if gas is None:
            gas = self.gas_limit or self.estimate_gas(to=to, data=data, value=value)
        fees = self.fees()
        # Sign *and* hand over under the lock: the node then sees this account's nonces in
        # order. Sending outside the lock was measured to leave, rarely, a later nonce parked
        # in anvil's queue after its predecessor was mined, never to be mined itself.
        with self._lock:
            for _attempt in range(3):
                nonce = self._reserve()
                raw, tx_hash = self._sign(
                    nonce=nonce, to=to, data=data, gas=gas, value=value, fees=fees
                )
                try:
                    self._send_raw(raw)
                    self._remember(tx_hash, (to, data, gas, value))
                    return tx_hash
                except NonceTooLowError:
                    log.warning("relayer %s: nonce %d too low, resyncing", self.address, nonce)
                    self._nonce = None
                except (TransactionRejectedError, TransactionRevertedError):
                    self._nonce = nonce  # nothing after it was sent: simply reuse it
                    raise
                except ChainConnectionError:
                    self._nonce = None  # unknown whether the node got it: ask it next time
                    raise
            raise NonceTooLowError(f"relayer {self.address}: nonce keeps being taken; key shared?")

    def send_many(
        self, calls: Sequence[tuple[str, bytes]], *, gas: int, value: int = 0
    ) -> list[str]:
        """Sign ``(to, data)`` calls with consecutive nonces and send them in one HTTP request.

        The bulk path for imports and benchmarks: no estimate per call (``gas`` is fixed), one
        round trip for the lot. A rejected item has its nonce filled and is reported after the
        others were sent; nothing is retried silently.
        """
        if not calls:
            return []
        fees = self.fees()
        with self._lock:
            first = self._reserve(len(calls))
            signed = [
                self._sign(
                    nonce=first + i,
                    to=to_checksum_address(to),
                    data=data,
                    gas=gas,
                    value=value,
                    fees=fees,
                )
                for i, (to, data) in enumerate(calls)
            ]
            try:
                results = rpc_batch(
                    self.w3, [("eth_sendRawTransaction", [raw]) for raw, _ in signed]
                )
            except ChainConnectionError:
                self._nonce = None
                raise
            failures: list[str] = []
            for i, result in enumerate(results):
                if isinstance(result, RpcError) and not _already_known(result):
                    self._fill_gap(first + i, fees)
                    failures.append(f"#{i}: {result.rpc_message}")
            if failures:
                self._nonce = None
                raise TransactionRejectedError(
                    f"{len(failures)} of {len(calls)} transactions rejected: " + "; ".join(failures)
                )
        for (to, data), (_, tx_hash) in zip(calls, signed, strict=True):
            self._remember(tx_hash, (to_checksum_address(to), data, gas, value))
        return [tx_hash for _, tx_hash in signed]

    def _send_raw(self, raw: str) -> None:
        try:
            rpc(self.w3, "eth_sendRawTransaction", [raw])
        except RpcError as exc:
            if _already_known(exc):
                return
            message = exc.rpc_message.lower()
            if "nonce too low" in message or "nonce_too_low" in message:
                raise NonceTooLowError(exc.rpc_message, rpc_error=exc) from exc
            self._raise_if_revert(exc)
            raise TransactionRejectedError(
                f"node rejected the transaction: {exc.rpc_message}", rpc_error=exc
            ) from exc

    def _fill_gap(self, nonce: int, fees: Fees) -> None:
        """Spend ``nonce`` on a no-op so the transactions reserved after it can be mined."""
        with self._lock:
            raw, _ = self._sign(
                nonce=nonce, to=self.address, data=b"", gas=TRANSFER_GAS, value=0, fees=fees
            )
        try:
            self._send_raw(raw)
        except (NonceTooLowError, TransactionRejectedError) as exc:
            log.error("relayer %s: cannot fill nonce %d (%s); resyncing", self.address, nonce, exc)
            self.resync_nonce()

    # -- receipts --------------------------------------------------------------------------

    def wait(self, tx_hash: str, *, timeout: float | None = None) -> Receipt:
        """The receipt of ``tx_hash``; a failed transaction raises its decoded revert."""
        return self.wait_many([tx_hash], timeout=timeout)[0]

    def send_and_wait(
        self, *, to: str, data: bytes, gas: int | None = None, value: int = 0
    ) -> Receipt:
        return self.wait(self.send(to=to, data=data, gas=gas, value=value))

    def wait_many(
        self, tx_hashes: Sequence[str], *, timeout: float | None = None, check: bool = True
    ) -> list[Receipt]:
        """Receipts for all hashes, polled in batches; with ``check`` the first failure raises."""
        timeout = self.receipt_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        found: dict[str, Receipt] = {}
        missing = list(dict.fromkeys(tx_hashes))
        original: dict[str, str] = {h: h for h in missing}  # re-sent hash → hash asked for
        interval = self.poll_interval
        progress_at = time.monotonic()
        while missing:
            still: list[str] = []
            for start in range(0, len(missing), RECEIPT_BATCH):
                chunk = missing[start : start + RECEIPT_BATCH]
                if len(chunk) == 1:
                    results: list[Any] = [rpc(self.w3, "eth_getTransactionReceipt", chunk)]
                else:
                    results = rpc_batch(
                        self.w3, [("eth_getTransactionReceipt", [h]) for h in chunk]
                    )
                for tx_hash, result in zip(chunk, results, strict=True):
                    if isinstance(result, RpcError):
                        raise result
                    if result is None or result.get("blockNumber") is None:
                        still.append(tx_hash)
                    else:
                        found[original[tx_hash]] = Receipt.from_rpc(result)
                        self._inflight.pop(tx_hash, None)
            if len(still) < len(missing):
                progress_at = time.monotonic()
            missing = still
            stalled = time.monotonic() - progress_at
            if missing and self.nudge_after is not None and stalled > self.nudge_after:
                self._nudge(missing[0])
                self.check_nonce()
                missing = self._resend_lost(missing, original)
                progress_at = time.monotonic()
            if missing:
                if time.monotonic() > deadline:
                    raise ReceiptTimeoutError(
                        tx_hash=missing[0], timeout=timeout, detail=self._whereabouts(missing[0])
                    )
                time.sleep(interval)
                interval = min(interval * 1.5, 0.5)
        receipts = [found[h] for h in tx_hashes]
        if check:
            for receipt in receipts:
                if receipt.status != 1:
                    raise self.explain_failure(receipt)
        return receipts

    def explain_failure(self, receipt: Receipt) -> TransactionRevertedError:
        """Why a mined transaction failed: replay it on its parent block and decode the revert.

        Replaying on the parent block is exact when the transaction was first in its block (as
        on an automining dev chain) and the best portable approximation otherwise; a replay that
        does not revert is reported as such rather than guessed.
        """
        tx = rpc(self.w3, "eth_getTransactionByHash", [receipt.tx_hash]) or {}
        if int(tx.get("gas", "0x0"), 16) == receipt.gas_used:
            return TransactionRevertedError(error_name="OutOfGas", tx_hash=receipt.tx_hash)
        params = {k: tx[k] for k in ("from", "to", "value", "gas") if tx.get(k) is not None}
        params["data"] = tx.get("input", "0x")
        block = hex(max(receipt.block_number - 1, 0))
        try:
            rpc(self.w3, "eth_call", [params, block])
        except RpcError as exc:
            data = revert_data_from_rpc_error(
                {"message": exc.rpc_message, "data": exc.data, "code": exc.code}
            )
            if data is not None:
                return self.decoder.decode(data).exception(tx_hash=receipt.tx_hash)
        return TransactionRevertedError(error_name="RevertNotReproduced", tx_hash=receipt.tx_hash)

    def _raise_if_revert(self, exc: RpcError) -> None:
        data = revert_data_from_rpc_error(
            {"message": exc.rpc_message, "data": exc.data, "code": exc.code}
        )
        if data is not None:
            raise self.decoder.decode(data).exception() from exc


def _already_known(exc: RpcError) -> bool:
    """The node already has this exact transaction (a retried send): not a failure."""
    message = exc.rpc_message.lower()
    return "already known" in message or "known transaction" in message
