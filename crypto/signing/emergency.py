"""Break-glass openings, co-signatures and reviews (``contracts/src/EmergencyAccess.sol``).

Signed in the domain "MedLedger EmergencyAccess":

- :class:`BreakGlassOpen` by the opening doctor; the opening id is unique, so it applies once.
- :class:`BreakGlassCosign` by a second active doctor when the opener is past the daily cap:
  bound to the opening id (so it is used once), the opener, the patient and the reason hash,
  with a deadline the contract refuses when it is more than an hour ahead.
- :class:`BreakGlassReview` by an auditor; an opening is reviewed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from crypto.signing.core import Domain, TypedMessage, domain_name, eip712

CONTRACT = "EmergencyAccess"
COSIGN_DOMAIN_NAME = domain_name(CONTRACT)
MAX_COSIGN_LIFETIME = 3600
"""Seconds a co-signature may still be valid when it is used (the contract's bound)."""


@dataclass(frozen=True, kw_only=True)
class BreakGlassOpen(TypedMessage):
    """A doctor opens ``patient``'s chart for ``window`` seconds, for the reason hashed."""

    CONTRACT: ClassVar[str] = CONTRACT

    id: bytes = eip712("bytes32")
    patient: str = eip712("address")
    reason_hash: bytes = eip712("bytes32")
    window: int = eip712("uint64")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class BreakGlassCosign(TypedMessage):
    """A second doctor vouches for opening ``opening_id`` by ``clinician`` past the cap."""

    CONTRACT: ClassVar[str] = CONTRACT

    opening_id: bytes = eip712("bytes32")
    clinician: str = eip712("address")
    patient: str = eip712("address")
    reason_hash: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class BreakGlassReview(TypedMessage):
    """An auditor's verdict on opening ``id`` (the note's keccak in ``note_hash``)."""

    CONTRACT: ClassVar[str] = CONTRACT

    id: bytes = eip712("bytes32")
    justified: bool = eip712("bool")
    note_hash: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")


COSIGN_TYPES: dict[str, list[dict[str, str]]] = {
    "BreakGlassCosign": BreakGlassCosign.eip712_fields()
}
EMERGENCY_TYPES: tuple[type[TypedMessage], ...] = (
    BreakGlassOpen,
    BreakGlassCosign,
    BreakGlassReview,
)


def cosign_domain(*, chain_id: int, verifying_contract: str) -> Domain:
    """The EIP-712 domain of one deployed ``EmergencyAccess``."""
    return Domain.of(CONTRACT, chain_id=chain_id, verifying_contract=verifying_contract)
