"""Typed wrapper of ``EmergencyKeys``: the DKG board, the consortium emergency key, releases.

Unlike the relayed contracts, every write here is the key authority's own transaction, sent
from its signing account (the one its institution's admin registered in ``Consortium``):
the contract checks ``msg.sender`` against ``Consortium.institutionOfAuthority``. The
consortium admin opens rounds the same way. Reads are plain ``eth_call`` / ``eth_getLogs``.

A revert is raised as :class:`TransactionRevertedError` with the contract's custom error name
(``EmergencyKeysRecordAfterOpening`` …), decoded from ``eth_call`` before anything is sent, so
nothing is mined for a refused release.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception

import contracts
from crypto.threshold.keys import EmergencyPublicKey
from ledger_api.chain.deploy import RECEIPT_POLL
from ledger_api.chain.errors import (
    ChainError,
    ReceiptTimeoutError,
    TransactionRevertedError,
)
from ledger_api.chain.fees import read_fees
from ledger_api.chain.revert import error_decoder, revert_data_from_rpc_error

KIND_TRANSPORT_KEY = 1
KIND_DEAL = 2
KIND_FELDMAN = 3
KIND_COMPLAINT = 4
KIND_REVEAL = 5
KIND_FELDMAN_COMPLAINT = 6
KIND_RECONSTRUCTION = 7
MAX_RELEASE_BATCH = 128
PHASES = 7
DEFAULT_PHASE_SECONDS = 600
# The board's phases in order, by message kind (the contract's ``_phaseOfKind``).
PHASE_OF_KIND = {
    KIND_TRANSPORT_KEY: 0,
    KIND_DEAL: 1,
    KIND_COMPLAINT: 2,
    KIND_REVEAL: 3,
    KIND_FELDMAN: 4,
    KIND_FELDMAN_COMPLAINT: 5,
    KIND_RECONSTRUCTION: 6,
}


def default_quorum(t: int, n: int) -> int:
    """The least |QUAL| the contract accepts: ``min(n, 2t − 1)`` (with at most ``t − 1``
    corrupt authorities, ``t`` honest share holders remain)."""
    return min(n, 2 * t - 1)


@dataclass(frozen=True)
class RoundInfo:
    key_round: int
    t: int
    n: int
    confirmations: int
    complete: bool
    institutions: tuple[int, ...]


@dataclass(frozen=True)
class BoardState:
    """Where a round's board stands (``EmergencyKeys.boardOf`` and ``scheduleOf``)."""

    phase: int  # the open phase, 0..6; PHASES once all closed
    deadline: int  # block time at which the open phase closes at the latest (0 when none)
    transported: frozenset[int]
    dealt: frozenset[int]
    qualified: frozenset[int]  # the activated key's QUAL (empty before)
    failed: bool  # dealing closed with fewer dealers than the quorum
    quorum: int
    opened_at: int
    phase_seconds: int


def indices(mask: int) -> frozenset[int]:
    """The indices (1-based) of a bit mask (bit i − 1 for index i)."""
    return frozenset(i + 1 for i in range(32) if mask >> i & 1)


def mask_of(members: Sequence[int] | frozenset[int]) -> int:
    return sum(1 << (i - 1) for i in set(members))


@dataclass(frozen=True)
class BoardMessage:
    key_round: int
    index: int
    kind: int
    payload: bytes
    block_number: int


@dataclass(frozen=True)
class Release:
    opening_id: bytes
    record_id: bytes
    patient: str
    authority: str
    institution_id: int
    key_round: int
    index: int
    tx_hash: str


class EmergencyKeysClient:
    """``EmergencyKeys`` at ``address``, writing as ``account`` (None: read-only)."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        *,
        account: LocalAccount | None = None,
        timeout: float = 30.0,
        gas_price: int | None = None,
    ) -> None:
        self.w3 = w3
        self.contract = w3.eth.contract(address=address, abi=contracts.load("EmergencyKeys")["abi"])
        self.account = account
        self.timeout = timeout
        self._lock = threading.Lock()
        self._chain_id: int | None = None
        self._openings: Any = None
        self.gas_price = gas_price  # None: what the node asks (read_fees: 0 on our chains)

    # -- reads ---------------------------------------------------------------------------------

    def current_round(self) -> int:
        return int(self._call("currentRound"))

    def latest_round(self) -> int:
        return int(self._call("latestRound"))

    def round_info(self, key_round: int) -> RoundInfo:
        t, n, confirmations, complete, _ = self._call("roundOf", key_round)
        institutions = tuple(int(i) for i in self._call("institutionsOf", key_round))
        return RoundInfo(
            key_round, int(t), int(n), int(confirmations), bool(complete), institutions
        )

    def board_state(self, key_round: int) -> BoardState:
        """The round's phase, its deadline and who took part, as the chain has it now."""
        phase, deadline, transported, dealt, qualified, failed = self._call("boardOf", key_round)
        quorum, opened_at, phase_seconds = self._call("scheduleOf", key_round)
        return BoardState(
            phase=int(phase),
            deadline=int(deadline),
            transported=indices(int(transported)),
            dealt=indices(int(dealt)),
            qualified=indices(int(qualified)),
            failed=bool(failed),
            quorum=int(quorum),
            opened_at=int(opened_at),
            phase_seconds=int(phase_seconds),
        )

    def latest_block_time(self) -> int:
        try:
            return int(self.w3.eth.get_block("latest")["timestamp"])
        except (Web3Exception, OSError, ValueError) as exc:
            raise ChainError(f"cannot read the latest block: {exc}") from exc

    def index_of(self, key_round: int, account: str) -> tuple[int, int]:
        index, institution = self._call("indexOf", key_round, account)
        return int(index), int(institution)

    def public_key(self, key_round: int | None = None) -> EmergencyPublicKey:
        """The completed round's key as the chain has it (the current one by default)."""
        key_round = self.current_round() if key_round is None else key_round
        t, h, vks = self._call("keyOf", key_round)
        if not h:
            raise ChainError(f"emergency key round {key_round} is not complete")
        return EmergencyPublicKey.from_parts(
            key_round=key_round, t=int(t), h=bytes(h), verification_keys=bytes(vks)
        )

    def opening_clinician(self, opening_id: bytes) -> str:
        """The clinician of opening ``opening_id`` (the zero address when unknown), read from
        the ``EmergencyAccess`` this contract trusts."""
        if self._openings is None:
            address = self._call("openings")
            abi = contracts.load("EmergencyAccess")["abi"]
            self._openings = self.w3.eth.contract(address=address, abi=abi)
        try:
            clinician, *_ = self._openings.functions.openingOf(opening_id).call()
        except (Web3Exception, OSError, ValueError) as exc:
            raise ChainError(f"EmergencyAccess.openingOf failed: {exc}") from exc
        return str(clinician)

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def check_release(self, opening_id: bytes, record_ids: Sequence[bytes]) -> str:
        """The opening's patient, or :class:`TransactionRevertedError` naming why not (and
        the first record refused)."""
        return str(self._call("checkRelease", opening_id, list(record_ids)))

    def messages(self, key_round: int, *, from_block: int = 0) -> list[BoardMessage]:
        """Every board message of ``key_round``, in chain order."""
        logs = self.contract.events.DkgMessagePosted().get_logs(
            from_block=from_block, argument_filters={"round": key_round}
        )
        return [
            BoardMessage(
                key_round=int(e["args"]["round"]),
                index=int(e["args"]["index"]),
                kind=int(e["args"]["kind"]),
                payload=bytes(e["args"]["payload"]),
                block_number=int(e["blockNumber"]),
            )
            for e in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))
        ]

    def confirmations(self, key_round: int, *, from_block: int = 0) -> dict[int, bytes]:
        logs = self.contract.events.DkgKeyConfirmed().get_logs(
            from_block=from_block, argument_filters={"round": key_round}
        )
        return {int(e["args"]["index"]): bytes(e["args"]["keyDigest"]) for e in logs}

    def releases(self, opening_id: bytes, *, from_block: int = 0) -> list[Release]:
        logs = self.contract.events.EmergencyShareReleased().get_logs(
            from_block=from_block, argument_filters={"openingId": opening_id}
        )
        return [_release(e) for e in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))]

    # -- writes (the account's own transactions) ----------------------------------------------

    def open_round(
        self,
        key_round: int,
        t: int,
        institutions: Sequence[int],
        *,
        quorum: int | None = None,
        phase_seconds: int = DEFAULT_PHASE_SECONDS,
    ) -> Any:
        """Open a round; ``quorum`` (least |QUAL|) defaults to :func:`default_quorum`."""
        n = len(institutions)
        quorum = default_quorum(t, n) if quorum is None else quorum
        return self._send("openRound", key_round, t, list(institutions), quorum, phase_seconds)

    def post(self, key_round: int, kind: int, payload: bytes) -> Any:
        return self._send("post", key_round, kind, payload)

    def confirm_key(self, key: EmergencyPublicKey, qual: frozenset[int]) -> Any:
        """Confirm ``key`` as computed from QUAL ``qual`` (the caller must be in it).

        The confirmation that completes QUAL stores h and h_1 … h_n (one storage slot per 32
        bytes), which an estimate made before the others' confirmations were mined does not
        include: the limit carries that much gas on top (unused gas is refunded)."""
        vks = key.verification_keys_bytes()
        slots = (len(key.h_bytes()) + len(vks)) // 32 + 4
        return self._send(
            "confirmKey",
            key.key_round,
            key.h_bytes(),
            vks,
            mask_of(qual),
            extra_gas=25_000 * slots,
        )

    def release_shares(self, opening_id: bytes, record_ids: Sequence[bytes]) -> list[Release]:
        """Log the release of this authority's shares of ``record_ids``; the events, mined."""
        receipt = self._send("releaseShares", opening_id, list(record_ids))
        events = self.contract.events.EmergencyShareReleased().process_receipt(receipt)
        return [_release(e) for e in events]

    def tick(self) -> Any:
        """One empty transaction (zero value, to the account itself): a block whose time is
        now, on a chain that mines only on transactions. Touches no contract."""
        if self.account is None:
            raise ChainError("this EmergencyKeys client has no account to send with")
        with self._lock:
            try:
                fees = (
                    read_fees(self.w3).tx_fields()
                    if self.gas_price is None
                    else {"gasPrice": self.gas_price}
                )
                tx = {
                    "from": self.account.address,
                    "to": self.account.address,
                    "value": 0,
                    "gas": 21_000,
                    "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                    "chainId": self.chain_id(),
                    **fees,
                }
                tx_hash = self.w3.eth.send_raw_transaction(
                    self.account.sign_transaction(tx).raw_transaction
                )
            except (Web3Exception, OSError, ValueError) as exc:
                raise ChainError(f"empty transaction failed: {exc}") from exc
        try:
            return self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.timeout, poll_latency=RECEIPT_POLL
            )
        except (Web3Exception, OSError) as exc:
            raise ReceiptTimeoutError(
                tx_hash=tx_hash.hex(), timeout=self.timeout, detail=str(exc)
            ) from exc

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, function: str, *args: Any) -> Any:
        try:
            return self.contract.functions[function](*args).call()
        except ContractLogicError as exc:
            raise _decoded(exc) from None
        except (Web3Exception, OSError, ValueError) as exc:
            raise ChainError(f"EmergencyKeys.{function} failed: {exc}") from exc

    def _send(self, function: str, *args: Any, extra_gas: int = 0) -> Any:
        if self.account is None:
            raise ChainError("this EmergencyKeys client has no account to send with")
        call = self.contract.functions[function](*args)
        with self._lock:
            try:
                if self._chain_id is None:
                    self._chain_id = int(self.w3.eth.chain_id)
                fees = (
                    read_fees(self.w3).tx_fields()
                    if self.gas_price is None
                    else {"gasPrice": self.gas_price}
                )
                tx = call.build_transaction(  # estimates gas: a revert surfaces here, unsent
                    {
                        "from": self.account.address,
                        "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                        "chainId": self._chain_id,
                        **fees,
                    }
                )
                # The estimate is made against the state before concurrent transactions of the
                # other authorities: the last confirmation of a round stores the key and costs
                # more than the estimate made while it was not the last. Unused gas is refunded.
                tx["gas"] = 2 * int(tx["gas"]) + 100_000 + extra_gas
                signed = self.account.sign_transaction(tx)
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except ContractLogicError as exc:
                raise _decoded(exc) from None
            except (Web3Exception, OSError, ValueError) as exc:
                raise ChainError(f"EmergencyKeys.{function} failed: {exc}") from exc
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.timeout, poll_latency=RECEIPT_POLL
            )
        except (Web3Exception, OSError) as exc:
            raise ReceiptTimeoutError(
                tx_hash=tx_hash.hex(), timeout=self.timeout, detail=str(exc)
            ) from exc
        if receipt["status"] != 1:
            raise TransactionRevertedError(
                error_name="reverted", error_args={}, data=b"", tx_hash=tx_hash.hex()
            )
        return receipt


def _decoded(exc: ContractLogicError) -> TransactionRevertedError:
    data = exc.data if isinstance(exc.data, str) else None
    raw = bytes.fromhex(data[2:]) if data and data.startswith("0x") else None
    if raw is None:
        raw = revert_data_from_rpc_error({"data": exc.data, "message": str(exc)}) or b""
    return error_decoder().decode(raw).exception()


def _release(event: Any) -> Release:
    a = event["args"]
    return Release(
        opening_id=bytes(a["openingId"]),
        record_id=bytes(a["recordId"]),
        patient=str(a["patient"]),
        authority=str(a["authority"]),
        institution_id=int(a["institutionId"]),
        key_round=int(a["round"]),
        index=int(a["index"]),
        tx_hash="0x" + bytes(event["transactionHash"]).hex(),
    )
