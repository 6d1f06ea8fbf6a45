"""Patient consents and revocations (``contracts/src/ConsentManager.sol``).

Semantics (enforced by ``ConsentManager``):

- ``grantee`` is an address, or ``address(0)`` when the consent names an attribute policy by
  its hash in ``granteePolicyHash`` (exactly one of the two is set);
- ``recordId`` is one record, or ``bytes32(0)`` for the patient's whole chart;
- ``notBefore`` / ``expiresAt`` are unix seconds (``expiresAt`` 0 is refused: consents end);
- ``nonce`` is chosen by the patient's wallet, strictly increasing per consent key; a nonce
  that was already used is rejected, so a signed message can be relayed once only;
- a revocation names the consent by its id (the EIP-712 struct hash of the ``Consent``) and
  carries a ``deadline`` after which it can no longer be relayed.

The domain is the one ConsentManager always had, "MedLedger ConsentManager" version "1".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from crypto.signing.core import ZERO_ADDRESS, ZERO_BYTES32, Domain, TypedMessage, eip712

DOMAIN_NAME = "MedLedger ConsentManager"


class Purpose(IntEnum):
    """Why access is granted; the numbers are the contract's ``uint8`` purpose codes."""

    TREATMENT = 0
    REFERRAL = 1
    CONSULTATION = 2
    EMERGENCY = 3
    RESEARCH = 4


@dataclass(frozen=True, kw_only=True)
class Consent(TypedMessage):
    """A patient's grant of access, as signed in the wallet."""

    CONTRACT: ClassVar[str] = "ConsentManager"

    patient: str = eip712("address")
    grantee: str = eip712("address", ZERO_ADDRESS)
    grantee_policy_hash: bytes = eip712("bytes32", ZERO_BYTES32)
    record_id: bytes = eip712("bytes32", ZERO_BYTES32)
    purpose: Purpose = eip712("uint8", Purpose.TREATMENT)  # noqa: RUF009 - eip712() is a dataclasses.field
    not_before: int = eip712("uint64", 0)
    expires_at: int = eip712("uint64")
    nonce: int = eip712("uint256")


@dataclass(frozen=True, kw_only=True)
class Revocation(TypedMessage):
    """A patient's withdrawal of one consent, named by its id."""

    CONTRACT: ClassVar[str] = "ConsentManager"

    patient: str = eip712("address")
    consent_id: bytes = eip712("bytes32")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "Consent": Consent.eip712_fields(),
    "Revocation": Revocation.eip712_fields(),
}
"""The consent types, as the patient wallet has always exported them."""


def consent_id(consent: Consent) -> bytes:
    """The on-chain consent id: ``hashStruct(consent)``."""
    return consent.struct_hash()


def consent_domain(*, chain_id: int, verifying_contract: str) -> Domain:
    return Domain(chain_id=chain_id, verifying_contract=verifying_contract, name=DOMAIN_NAME)
