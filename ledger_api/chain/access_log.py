"""Typed wrapper of ``AccessLog``: every read decision, granted or denied, goes on chain with
the reader's own signature of the request, and so do key issuances and membership epochs.

Reads the relayer cannot invent: the client signs a :class:`~crypto.signing.ReadRequest`
(record, part, purpose, issued-at, nonce) when it asks; the API checks it, decides, and logs
an :class:`AccessEntry` holding the request and the signature. The contract keeps them in the
``AccessLogged`` event without verifying (an ``ecrecover`` per entry would break the batch
gas budget); :func:`verify_read_signature` is how an auditor checks every entry from chain
data alone. Any enrolled relayer may log (``Consortium.isRelayer``); a batch is the natural
unit when the API flushes decisions it collected over a short window.

On the wire an entry is six packed words (the calldata floor of EIP-7623 prices every byte),
built by :meth:`AccessEntry.as_tuple`; the event carries the fields unpacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crypto.errors import SigningError
from crypto.signing import (
    ZERO_BYTES32,
    Domain,
    Purpose,
    ReadPart,
    ReadRequest,
    from_compact,
    recover,
    to_compact,
)
from ledger_api.chain.contract import (
    Event,
    PendingTx,
    SignedContract,
    check_address,
    check_batch,
    check_bytes32,
    check_uint,
    message_args,
)
from ledger_api.chain.errors import InvalidChainInputError

MAX_BATCH = 64


@dataclass(frozen=True, kw_only=True)
class AccessEntry:
    """One decision: who asked for which part of which record, why, the outcome (reason
    code), what justified a grant (a consent, referral, consultation or opening id; zero for
    a denial), and the reader's signed request (``signature`` empty only for a denial of an
    unsigned request: the contract refuses a granted entry without one)."""

    record_id: bytes
    accessor: str
    purpose: Purpose | int
    granted: bool
    reason_code: int = 0
    part: ReadPart | int = ReadPart.BODY
    justification: bytes = ZERO_BYTES32
    issued_at: int = 0
    nonce: int = 0
    signature: bytes = b""

    @classmethod
    def for_request(
        cls,
        request: ReadRequest,
        signature: bytes,
        *,
        accessor: str,
        granted: bool,
        reason_code: int = 0,
        justification: bytes = ZERO_BYTES32,
    ) -> AccessEntry:
        """The entry logging the decision on ``request`` signed by ``accessor``."""
        return cls(
            record_id=request.record_id,
            accessor=accessor,
            purpose=request.purpose,
            granted=granted,
            reason_code=reason_code,
            part=request.part,
            justification=justification,
            issued_at=request.issued_at,
            nonce=request.nonce,
            signature=signature,
        )

    def request(self) -> ReadRequest:
        """The request the reader signed, as the entry records it."""
        return ReadRequest(
            record_id=self.record_id,
            part=ReadPart(self.part),
            purpose=int(self.purpose),
            issued_at=self.issued_at,
            nonce=self.nonce,
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """The packed ABI tuple ``(recordId, justification, access, request, sigR, sigVs)``,
        every field checked first (a precise error names the bad one)."""
        accessor = int(check_address(self.accessor, "accessor"), 16)
        part = check_uint(int(self.part), 8, "part")
        if part > max(ReadPart):
            raise InvalidChainInputError(f"part must be 0, 1 or 2, got {part}")
        if self.granted and not self.signature:
            raise InvalidChainInputError("a granted entry needs the reader's signature")
        access = (
            accessor
            | part << 160
            | check_uint(int(self.purpose), 8, "purpose") << 168
            | int(bool(self.granted)) << 176
            | check_uint(self.reason_code, 16, "reason_code") << 184
        )
        request = check_uint(self.issued_at, 64, "issued_at") | (
            check_uint(self.nonce, 64, "nonce") << 64
        )
        if self.signature:
            try:
                sig_r, sig_vs = to_compact(bytes(self.signature))
            except SigningError as exc:
                raise InvalidChainInputError(f"unusable signature: {exc}") from exc
        else:
            sig_r = sig_vs = ZERO_BYTES32
        return (
            check_bytes32(self.record_id, "record_id"),
            check_bytes32(self.justification, "justification"),
            access,
            request,
            sig_r,
            sig_vs,
        )


class AccessLog(SignedContract):
    NAME = "AccessLog"

    def log_access(self, entry: AccessEntry, *, gas: int | None = None) -> PendingTx:
        return self._write("logAccess", entry.as_tuple(), gas=gas)

    def log_access_batch(
        self, entries: Sequence[AccessEntry], *, gas: int | None = None
    ) -> PendingTx:
        check_batch(entries, MAX_BATCH, "entries")
        return self._write("logAccessBatch", [e.as_tuple() for e in entries], gas=gas)

    def log_key_issued(self, *, holder: str, attributes_hash: bytes, epoch: int) -> PendingTx:
        return self._write(
            "logKeyIssued",
            check_address(holder, "holder"),
            check_bytes32(attributes_hash, "attributes_hash"),
            check_uint(epoch, 64, "epoch"),
        )

    def log_epoch_advanced(self, *, epoch: int, reason: bytes) -> PendingTx:
        """Move the key authority to membership epoch ``epoch`` (must be current + 1)."""
        return self._write(
            "logEpochAdvanced", check_uint(epoch, 64, "epoch"), check_bytes32(reason, "reason")
        )

    def current_epoch(self) -> int:
        """The membership epoch record policies are written with now (1 before any advance)."""
        return int(self._read("currentEpoch"))

    def hash_read_request(self, request: ReadRequest) -> bytes:
        """The contract's ``hashReadRequest`` (equals ``request.struct_hash()``)."""
        return bytes(self._read("hashReadRequest", message_args(request)))


def read_request_of(event: Event) -> tuple[ReadRequest, bytes]:
    """The request and the 65-byte signature an ``AccessLogged`` event records."""
    if event.name != "AccessLogged":
        raise InvalidChainInputError(f"not an AccessLogged event: {event.name}")
    args = event.args
    request = ReadRequest(
        record_id=bytes(args["recordId"]),
        part=ReadPart(args["part"]),
        purpose=int(args["purpose"]),
        issued_at=int(args["issuedAt"]),
        nonce=int(args["nonce"]),
    )
    return request, from_compact(bytes(args["sigR"]), bytes(args["sigVs"]))


def verify_read_signature(event: Event, *, chain_id: int) -> bool:
    """True when the ``AccessLogged`` entry's signature recovers to its accessor under the
    logging contract's domain (the event's address on chain ``chain_id``): the reader asked
    for exactly this part of this record, with this purpose, time and nonce. False for an
    entry with no signature, a malformed one, or one made by anyone else."""
    try:
        request, signature = read_request_of(event)
        domain = Domain.of("AccessLog", chain_id=chain_id, verifying_contract=event.address)
        signer = recover(domain, request, signature)
    except (SigningError, InvalidChainInputError, ValueError):
        return False
    return signer == check_address(event.args["accessor"], "accessor")
