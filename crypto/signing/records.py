"""Record registrations and their later changes (``contracts/src/RecordRegistry.sol``).

Signed in the domain "MedLedger RecordRegistry" by the actor the contract recovers:

- :class:`RecordRegistration` by the author (a clinician or gateway of an institution, or the
  patient for their own upload); the author is not a field: it is whoever signed. The record
  id is unique, so a registration cannot be replayed.
- :class:`RecordRekey` (header only) and :class:`RecordBodyRekey` (new body and data key) by
  the patient, or a doctor or nurse of the author's institution; ``version`` is the record's
  current version, so a signed re-key applies once.
- :class:`RecordSupersede` and :class:`RecordWithdraw` by the same managers; each is a state
  transition that can happen once.

Every message has a ``deadline`` (unix seconds) after which the contract refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from crypto.signing.core import TypedMessage, eip712

CONTRACT = "RecordRegistry"


@dataclass(frozen=True, kw_only=True)
class RecordRegistration(TypedMessage):
    """One record as registered on chain, signed by its author."""

    CONTRACT: ClassVar[str] = CONTRACT

    id: bytes = eip712("bytes32")
    patient: str = eip712("address")
    body_cid: str = eip712("string")
    header_cid: str = eip712("string")
    body_hash: bytes = eip712("bytes32")
    policy_hash: bytes = eip712("bytes32")
    record_type: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class RecordRekey(TypedMessage):
    """A new header (the data key wrapped under ``policy_hash``) for version ``version``."""

    CONTRACT: ClassVar[str] = CONTRACT

    id: bytes = eip712("bytes32")
    version: int = eip712("uint16")
    header_cid: str = eip712("string")
    policy_hash: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class RecordBodyRekey(TypedMessage):
    """A new body under a fresh data key, with its header, replacing version ``version``."""

    CONTRACT: ClassVar[str] = CONTRACT

    id: bytes = eip712("bytes32")
    version: int = eip712("uint16")
    body_cid: str = eip712("string")
    header_cid: str = eip712("string")
    body_hash: bytes = eip712("bytes32")
    policy_hash: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class RecordSupersede(TypedMessage):
    """Record ``id`` is replaced by the newer record ``new_id`` of the same patient."""

    CONTRACT: ClassVar[str] = CONTRACT

    id: bytes = eip712("bytes32")
    new_id: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class RecordWithdraw(TypedMessage):
    """Record ``id`` is withdrawn (kept on chain for audit) for ``reason_code``."""

    CONTRACT: ClassVar[str] = CONTRACT

    id: bytes = eip712("bytes32")
    reason_code: int = eip712("uint8")
    deadline: int = eip712("uint64")


RECORD_TYPES: tuple[type[TypedMessage], ...] = (
    RecordRegistration,
    RecordRekey,
    RecordBodyRekey,
    RecordSupersede,
    RecordWithdraw,
)
