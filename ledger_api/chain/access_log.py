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

Apps (SMART App Launch) hold no Ethereum key: the launching user's client signs an
:class:`~crypto.signing.AppReadRequest` for the app and the API logs an
:class:`AppAccessEntry` (``logAppAccess``): the chain shows the same ``AccessLogged``, whose
signature is then over the ``AppReadRequest``, immediately followed (next log index, same
transaction) by ``AppAccessLogged`` with the app's listing id and hashed client id.
:func:`app_events` pairs them; :func:`read_request_of` and :func:`verify_read_signature`
take the pair (``app_event=``), :func:`verify_app_read_signature` demands it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crypto.errors import SigningError
from crypto.signing import (
    ZERO_BYTES32,
    AppReadRequest,
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
        request: ReadRequest | AppReadRequest,
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


@dataclass(frozen=True, kw_only=True)
class AppAccessEntry:
    """One decision on a read an app made through the launching user: the user's
    :class:`AccessEntry` (its ``signature`` over the :class:`~crypto.signing.AppReadRequest`),
    the app's Marketplace listing id and the keccak-256 of its OAuth client id
    (:func:`crypto.signing.client_id_hash`), both non-zero."""

    entry: AccessEntry
    app_id: bytes
    client_id: bytes

    @classmethod
    def for_request(
        cls,
        request: AppReadRequest,
        signature: bytes,
        *,
        accessor: str,
        granted: bool,
        reason_code: int = 0,
        justification: bytes = ZERO_BYTES32,
    ) -> AppAccessEntry:
        """The entry logging the decision on the app's ``request``, signed by ``accessor``
        (the launching user)."""
        return cls(
            entry=AccessEntry.for_request(
                request,
                signature,
                accessor=accessor,
                granted=granted,
                reason_code=reason_code,
                justification=justification,
            ),
            app_id=request.app_id,
            client_id=request.client_id,
        )

    def request(self) -> AppReadRequest:
        """The request the user signed for the app, as the entry records it."""
        e = self.entry
        return AppReadRequest(
            record_id=e.record_id,
            part=ReadPart(e.part),
            purpose=int(e.purpose),
            issued_at=e.issued_at,
            nonce=e.nonce,
            app_id=self.app_id,
            client_id=self.client_id,
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple ``(entry, appId, clientId)`` (``entry`` packed as
        :meth:`AccessEntry.as_tuple`); the contract refuses zero ids, so they are refused
        here first."""
        app_id = check_bytes32(self.app_id, "app_id")
        client_id = check_bytes32(self.client_id, "client_id")
        if app_id == ZERO_BYTES32 or client_id == ZERO_BYTES32:
            raise InvalidChainInputError("an app entry needs a non-zero app_id and client_id")
        return (self.entry.as_tuple(), app_id, client_id)


class AccessLog(SignedContract):
    NAME = "AccessLog"

    def log_access(self, entry: AccessEntry, *, gas: int | None = None) -> PendingTx:
        return self._write("logAccess", entry.as_tuple(), gas=gas)

    def log_access_batch(
        self, entries: Sequence[AccessEntry], *, gas: int | None = None
    ) -> PendingTx:
        check_batch(entries, MAX_BATCH, "entries")
        return self._write("logAccessBatch", [e.as_tuple() for e in entries], gas=gas)

    def log_app_access(self, entry: AppAccessEntry, *, gas: int | None = None) -> PendingTx:
        """Emits ``AccessLogged`` then ``AppAccessLogged``."""
        return self._write("logAppAccess", entry.as_tuple(), gas=gas)

    def log_app_access_batch(
        self, entries: Sequence[AppAccessEntry], *, gas: int | None = None
    ) -> PendingTx:
        """Emits, per entry and in order, ``AccessLogged`` then ``AppAccessLogged``."""
        check_batch(entries, MAX_BATCH, "entries")
        return self._write("logAppAccessBatch", [e.as_tuple() for e in entries], gas=gas)

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

    def hash_app_read_request(self, request: AppReadRequest) -> bytes:
        """The contract's ``hashAppReadRequest`` (equals ``request.struct_hash()``)."""
        return bytes(self._read("hashAppReadRequest", message_args(request)))


def _is_app_pair(access_event: Event, app_event: Event) -> bool:
    """True when ``app_event`` is the ``AppAccessLogged`` the contract emitted right after
    ``access_event``: same contract, transaction and entry, next log index."""
    a, b = access_event.args, app_event.args
    return (
        app_event.name == "AppAccessLogged"
        and app_event.address.lower() == access_event.address.lower()
        and app_event.tx_hash == access_event.tx_hash
        and app_event.log_index == access_event.log_index + 1
        and bytes(b["recordId"]) == bytes(a["recordId"])
        and str(b["accessor"]).lower() == str(a["accessor"]).lower()
        and int(b["nonce"]) == int(a["nonce"])
    )


def app_events(events: Iterable[Event]) -> list[tuple[Event, Event | None]]:
    """Each ``AccessLogged`` of ``events`` (one contract's logs in chain order) with the
    ``AppAccessLogged`` that follows it when it logged an app's read, else ``None``."""
    ordered = list(events)
    pairs: list[tuple[Event, Event | None]] = []
    for i, event in enumerate(ordered):
        if event.name != "AccessLogged":
            continue
        following = ordered[i + 1] if i + 1 < len(ordered) else None
        pairs.append((event, following if following and _is_app_pair(event, following) else None))
    return pairs


def read_request_of(
    event: Event, *, app_event: Event | None = None
) -> tuple[ReadRequest | AppReadRequest, bytes]:
    """The request and the 65-byte signature an ``AccessLogged`` event records; with
    ``app_event`` (its ``AppAccessLogged``, see :func:`app_events`) the
    :class:`~crypto.signing.AppReadRequest` the user signed for the app."""
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
    signature = from_compact(bytes(args["sigR"]), bytes(args["sigVs"]))
    if app_event is None:
        return request, signature
    if not _is_app_pair(event, app_event):
        raise InvalidChainInputError("the AppAccessLogged event does not follow this entry")
    app_request = AppReadRequest(
        record_id=request.record_id,
        part=request.part,
        purpose=request.purpose,
        issued_at=request.issued_at,
        nonce=request.nonce,
        app_id=bytes(app_event.args["appId"]),
        client_id=bytes(app_event.args["clientId"]),
    )
    return app_request, signature


def verify_app_read_signature(access_event: Event, app_event: Event, *, chain_id: int) -> bool:
    """:func:`verify_read_signature` of an app's read: the ``AccessLogged`` entry's signature
    recovers to its accessor over the ``AppReadRequest`` completed by ``app_event`` (the
    user asked for this read for exactly this app and client). False when ``app_event`` is
    not the entry's ``AppAccessLogged``."""
    return verify_read_signature(access_event, chain_id=chain_id, app_event=app_event)


def verify_read_signature(event: Event, *, chain_id: int, app_event: Event | None = None) -> bool:
    """True when the ``AccessLogged`` entry's signature recovers to its accessor under the
    logging contract's domain (the event's address on chain ``chain_id``): the reader asked
    for exactly this part of this record, with this purpose, time and nonce (and, given the
    entry's ``AppAccessLogged`` as ``app_event``, for this app). False for an entry with no
    signature, a malformed one, one made by anyone else, or an app's entry checked without
    its ``app_event``."""
    try:
        request, signature = read_request_of(event, app_event=app_event)
        domain = Domain.of("AccessLog", chain_id=chain_id, verifying_contract=event.address)
        signer = recover(domain, request, signature)
    except (SigningError, InvalidChainInputError, ValueError, KeyError):
        return False
    return signer == check_address(event.args["accessor"], "accessor")
