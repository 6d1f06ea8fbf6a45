"""How the relayer finds its feet again after the chain forgot some of its transactions.

A chain node restarted from an older state (anvil's ``--state`` file, a backup) or a
reorganisation forgets transactions the relayer already counted: its local nonce is then ahead
of the node's, and every later transaction waits behind the gap. These are the relayer's
recovery steps, apart from the sending path that
:class:`~ledger_api.chain.relayer.Relayer` keeps fast: bring the nonce back in step (filling the
gap with no-ops), unstick a ready transaction, send again what the node lost, and say where a
transaction that never arrived is.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from web3 import Web3

from ledger_api.chain.connection import rpc
from ledger_api.chain.errors import TransactionRejectedError, TransactionRevertedError
from ledger_api.chain.fees import Fees

log = logging.getLogger("ledger_api.chain.relayer")

TRANSFER_GAS = 21_000
# beyond this many missing nonces the relayer resyncs instead of filling the gap
MAX_GAP_FILL = 5_000


class NonceRecoveryMixin:
    """The recovery half of :class:`~ledger_api.chain.relayer.Relayer` (its state and sends)."""

    w3: Web3
    _lock: threading.RLock
    _nonce: int | None
    _inflight: dict[str, tuple[str, bytes, int, int]]

    if TYPE_CHECKING:  # provided by Relayer, which this mixin is only ever part of

        @property
        def address(self) -> str: ...

        def pending_nonce(self) -> int: ...

        def fees(self) -> Fees: ...

        def _sign(
            self, *, nonce: int, to: str, data: bytes, gas: int, value: int, fees: Fees
        ) -> tuple[str, str]: ...

        def _send_raw(self, raw: str) -> None: ...

        def send(self, *, to: str, data: bytes, gas: int | None = None, value: int = 0) -> str: ...

    def check_nonce(self) -> bool:
        """Bring the local nonce back in step with the node; True when they disagreed.

        Every transaction is handed over under the lock, so the two agree unless the node
        lost transactions (a rollback, a restart from an older state) or another process used
        the key. When the node is behind, each nonce between its count and ours is filled with
        a no-op: a transaction of ours still queued at that nonce makes the node refuse the
        no-op and is mined as signed; a lost one's nonce is spent, and whoever waits for the
        lost transaction sends its call again (:meth:`wait_many`). No call is ever sent twice.
        """
        with self._lock:
            if self._nonce is None:
                return False
            pending = self.pending_nonce()
            local = self._nonce
            if pending == local:
                return False
            log.warning(
                "relayer %s: node's pending nonce %d, ours %d: resyncing",
                self.address,
                pending,
                local,
            )
            if pending > local or local - pending > MAX_GAP_FILL:
                self._nonce = None  # used elsewhere (or too far off): ask the node next time
                return True
            fees = self.fees()
            for nonce in range(pending, local):
                raw, _ = self._sign(
                    nonce=nonce, to=self.address, data=b"", gas=TRANSFER_GAS, value=0, fees=fees
                )
                try:
                    self._send_raw(raw)
                except (TransactionRejectedError, TransactionRevertedError):
                    continue  # a queued transaction of ours holds it: it will be mined
            return True

    def _nudge(self, tx_hash: str) -> None:
        """Unstick a transaction that is next in line but not mined: send a no-op after it.

        anvil's automine can leave a ready transaction in its pool when several from one
        account arrive close together (foundry-rs/foundry#10122) until another transaction
        arrives. Only standard calls are used, and only when ``tx_hash`` is pending at exactly
        the account's next nonce, so on a healthy chain this never fires; on a stalled one a
        zero-value self-transfer costs 21,000 gas.
        """
        tx = rpc(self.w3, "eth_getTransactionByHash", [tx_hash])
        if tx is None or tx.get("blockNumber") is not None:
            return
        mined = int(rpc(self.w3, "eth_getTransactionCount", [self.address, "latest"]), 16)
        if int(tx["nonce"], 16) != mined:
            return
        log.warning("relayer %s: %s ready but unmined; nudging the node", self.address, tx_hash)
        self.send(to=self.address, data=b"", gas=TRANSFER_GAS)

    def _resend_lost(self, missing: list[str], original: dict[str, str]) -> list[str]:
        """Send again (new nonce, same call) what the node no longer knows; the new hashes
        replace the old in ``missing`` and map back to the hash the caller asked for."""
        now_missing: list[str] = []
        for tx_hash in missing:
            call = self._inflight.get(tx_hash)
            if call is None or rpc(self.w3, "eth_getTransactionByHash", [tx_hash]) is not None:
                now_missing.append(tx_hash)
                continue
            to, data, gas, value = call
            try:
                new_hash = self.send(to=to, data=data, gas=gas, value=value)
            except (TransactionRejectedError, TransactionRevertedError):
                # it now reverts (e.g. another sender re-sent it first): keep waiting on the
                # old hash; the caller's timeout reports it
                now_missing.append(tx_hash)
                continue
            log.warning(
                "relayer %s: %s lost by the node, re-sent as %s", self.address, tx_hash, new_hash
            )
            self._inflight.pop(tx_hash, None)
            original[new_hash] = original[tx_hash]
            now_missing.append(new_hash)
        return now_missing

    def _whereabouts(self, tx_hash: str) -> str:
        """Whether the node still holds an unmined transaction: pending, or never seen."""
        tx = rpc(self.w3, "eth_getTransactionByHash", [tx_hash])
        if tx is None:
            return "the node does not know this transaction"
        mined = int(rpc(self.w3, "eth_getTransactionCount", [self.address, "latest"]), 16)
        return f"pending at nonce {int(tx['nonce'], 16)}; the account's mined nonce is {mined}"
