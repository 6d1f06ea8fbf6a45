"""Typed wrapper of ``RecordRegistry``: register (one or a batch), re-key, supersede, withdraw.

The API registers on behalf of the author (a clinician, or the patient) through the relayer;
the contract checks the author's membership itself. The client chooses the record id, so a
retried registration fails as ``RecordRegistryDuplicateId`` instead of registering twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ledger_api.chain.contract import (
    BoundContract,
    PendingTx,
    check_address,
    check_batch,
    check_bytes32,
    check_text,
    check_uint,
)

MAX_BATCH = 64


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
