"""Typed wrapper of ``RecordRegistry``: register (one or a batch), re-key (header only or the
whole body), supersede, withdraw.

The API registers on behalf of the author (a clinician, or the patient) through the relayer;
the contract checks the author's membership itself. The client chooses the record id, so a
retried registration fails as ``RecordRegistryDuplicateId`` instead of registering twice.

Concurrent shares go through :meth:`RecordRegistry.register_coalesced`: registrations that
arrive while one is being mined are sent together as one ``registerBatch`` (one transaction,
one block, one receipt for up to 64 records). A batch is all or nothing on chain, so when it
reverts (one duplicate id, one author who is not a member) every record of it is sent alone,
and each caller gets its own record's outcome, exactly as if it had been sent alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from web3 import Web3

from ledger_api.chain.coalesce import Coalescer
from ledger_api.chain.contract import (
    BoundContract,
    Event,
    Mined,
    PendingTx,
    check_address,
    check_batch,
    check_bytes32,
    check_text,
    check_uint,
)
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.relayer import Relayer

MAX_BATCH = 64
REGISTER_RECEIPT_TIMEOUT = 60.0


class RecordStatus(IntEnum):
    """``RecordRegistry.Status``."""

    NONE = 0
    ACTIVE = 1
    SUPERSEDED = 2
    WITHDRAWN = 3


@dataclass(frozen=True, kw_only=True)
class RecordInput:
    """One registration: ids and digests are 32 bytes; CIDs are the block store's strings."""

    id: bytes
    patient: str
    author: str
    body_cid: str
    header_cid: str
    body_hash: bytes
    policy_hash: bytes
    record_type: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple, every field checked first (a precise error names the bad one)."""
        return (
            check_bytes32(self.id, "id"),
            check_address(self.patient, "patient"),
            check_address(self.author, "author"),
            check_text(self.body_cid, "body_cid"),
            check_text(self.header_cid, "header_cid"),
            check_bytes32(self.body_hash, "body_hash"),
            check_bytes32(self.policy_hash, "policy_hash"),
            check_bytes32(self.record_type, "record_type"),
        )


@dataclass(frozen=True)
class RecordInfo:
    patient: str
    author_institution: int
    version: int
    status: RecordStatus
    registered_at: int


class RecordRegistry(BoundContract):
    NAME = "RecordRegistry"

    def __init__(self, w3: Web3, address: str, *, sender: Relayer | None = None) -> None:
        super().__init__(w3, address, sender=sender)
        self.receipt_timeout = REGISTER_RECEIPT_TIMEOUT
        self._coalescer: Coalescer[RecordInput, Event] = Coalescer(
            self._register_together, max_batch=MAX_BATCH
        )

    def register_coalesced(self, record: RecordInput) -> Event:
        """Register ``record`` (with whatever else is waiting) and return its mined
        ``RecordRegistered`` event; raises this record's own revert or the chain's error.

        Returns only once the registration is mined (``receipt_timeout`` seconds at most:
        :class:`~ledger_api.chain.errors.ReceiptTimeoutError`, when it may still be mined).
        """
        return self._coalescer.submit(record)

    def _register_together(self, records: list[RecordInput]) -> list[Event | BaseException]:
        if len(records) > 1:
            try:
                mined = self.register_batch(records).wait(timeout=self.receipt_timeout)
            except TransactionRevertedError:
                pass  # one entry spoils the batch: each goes alone below, for its own outcome
            else:
                return [_registered(mined, r.id) for r in records]
        pending: list[PendingTx | BaseException] = []
        for record in records:
            try:  # the gas estimate reports this record's own revert before anything is sent
                pending.append(self.register(record))
            except Exception as exc:
                pending.append(exc)
        outcomes: list[Event | BaseException] = []
        for record, sent in zip(records, pending, strict=True):
            if isinstance(sent, BaseException):
                outcomes.append(sent)
                continue
            try:
                outcomes.append(_registered(sent.wait(timeout=self.receipt_timeout), record.id))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def register(self, record: RecordInput, *, gas: int | None = None) -> PendingTx:
        """Emits ``RecordRegistered``; a known id reverts ``RecordRegistryDuplicateId``."""
        return self._write("register", record.as_tuple(), gas=gas)

    def register_calldata(self, record: RecordInput) -> bytes:
        """Encoded ``register`` call, for bulk paths that sign many (``Relayer.send_many``)."""
        return self._encode("register", record.as_tuple())

    def register_batch(
        self, records: Sequence[RecordInput], *, gas: int | None = None
    ) -> PendingTx:
        """1 to 64 records, all or nothing; one ``RecordRegistered`` each, in order."""
        check_batch(records, MAX_BATCH, "records")
        return self._write("registerBatch", [r.as_tuple() for r in records], gas=gas)

    def rekey(
        self, *, actor: str, record_id: bytes, header_cid: str, policy_hash: bytes
    ) -> PendingTx:
        """New header (data key wrapped under a new policy); the body stays; version + 1."""
        return self._write(
            "rekey",
            check_address(actor, "actor"),
            check_bytes32(record_id, "record_id"),
            check_text(header_cid, "header_cid"),
            check_bytes32(policy_hash, "policy_hash"),
        )

    def rekey_body(
        self,
        *,
        actor: str,
        record_id: bytes,
        header_cid: str,
        body_cid: str,
        body_hash: bytes,
        policy_hash: bytes,
    ) -> PendingTx:
        """New body under a fresh data key, with its header; version + 1 (``RecordBodyRekeyed``).

        For a revocation that must hold against a reader who may keep the old data key."""
        return self._write(
            "rekeyBody",
            check_address(actor, "actor"),
            check_bytes32(record_id, "record_id"),
            check_text(header_cid, "header_cid"),
            check_text(body_cid, "body_cid"),
            check_bytes32(body_hash, "body_hash"),
            check_bytes32(policy_hash, "policy_hash"),
        )

    def supersede(self, *, actor: str, record_id: bytes, new_record_id: bytes) -> PendingTx:
        return self._write(
            "supersede",
            check_address(actor, "actor"),
            check_bytes32(record_id, "record_id"),
            check_bytes32(new_record_id, "new_record_id"),
        )

    def withdraw(self, *, actor: str, record_id: bytes, reason_code: int = 0) -> PendingTx:
        return self._write(
            "withdraw",
            check_address(actor, "actor"),
            check_bytes32(record_id, "record_id"),
            check_uint(reason_code, 8, "reason_code"),
        )

    # -- views ----------------------------------------------------------------------------

    def record_of(self, record_id: bytes) -> RecordInfo:
        """Stored facts; an unknown id raises ``RecordRegistryUnknownRecord``."""
        patient, institution, version, status, registered_at = self._read(
            "recordOf", check_bytes32(record_id, "record_id")
        )
        return RecordInfo(
            patient=patient,
            author_institution=institution,
            version=version,
            status=RecordStatus(status),
            registered_at=registered_at,
        )

    def exists(self, record_id: bytes) -> bool:
        return bool(self._read("exists", check_bytes32(record_id, "record_id")))

    def is_active(self, record_id: bytes) -> bool:
        return bool(self._read("isActive", check_bytes32(record_id, "record_id")))

    def patient_of(self, record_id: bytes) -> str:
        return str(self._read("patientOf", check_bytes32(record_id, "record_id")))


def _registered(mined: Mined, record_id: bytes) -> Event | BaseException:
    """The ``RecordRegistered`` event of ``record_id`` in a mined registration."""
    for event in mined.events:
        if event.name == "RecordRegistered" and event.args["id"] == record_id:
            return event
    return KeyError(f"no RecordRegistered event for 0x{record_id.hex()} in {mined.tx_hash}")
