"""EIP-712 typed data of every action signed in MedLedger: the one definition of the types.

Each contract that acts in someone's name verifies these structures (its ``hash<Type>`` views
are checked against :meth:`TypedMessage.struct_hash` by the tests, and a test signs each type
with eth-account's ``sign_typed_data`` and has the contract accept it); the web wallet gets
them from ``scripts/export_eip712.py``; the SDK, the CLI and the demo build their messages
from the dataclasses here. Keeping the types in one place is what stops a client and a
contract from disagreeing on a field.

- :mod:`crypto.signing.core`: domains, the :class:`TypedMessage` base, :func:`sign`,
  :func:`recover` (works for every type), canonical-signature checks;
- :mod:`crypto.signing.consents`: ``Consent``, ``Revocation`` (ConsentManager);
- :mod:`crypto.signing.records`: registrations, re-keys, supersessions, withdrawals;
- :mod:`crypto.signing.access`: the reader's ``ReadRequest`` and, for apps, ``AppReadRequest``
  (AccessLog);
- :mod:`crypto.signing.emergency`: break-glass openings, co-signatures, reviews;
- :mod:`crypto.signing.workflow`: referral and consultation steps;
- :mod:`crypto.signing.marketplace`: app submissions, votes, status changes, installations,
  ratings, vendor and administrator changes, users' app authorisations, patients' app
  revocations.
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak

from crypto.errors import SigningError
from crypto.signing.access import AppReadRequest, ReadPart, ReadRequest
from crypto.signing.consents import (
    DOMAIN_NAME,
    EIP712_TYPES,
    Consent,
    Purpose,
    Revocation,
    consent_domain,
    consent_id,
)
from crypto.signing.core import (
    DOMAIN_VERSION,
    EIP712_DOMAIN_TYPE,
    HALF_ORDER,
    SECP256K1_N,
    ZERO_ADDRESS,
    ZERO_BYTES32,
    Domain,
    TypedMessage,
    check_signature,
    domain_name,
    from_compact,
    recover,
    sign,
    to_compact,
)
from crypto.signing.emergency import (
    COSIGN_DOMAIN_NAME,
    COSIGN_TYPES,
    EMERGENCY_TYPES,
    MAX_COSIGN_LIFETIME,
    BreakGlassCosign,
    BreakGlassOpen,
    BreakGlassReview,
    cosign_domain,
)
from crypto.signing.marketplace import (
    MARKETPLACE_TYPES,
    AdministratorChange,
    AdministratorRole,
    AppAuthorization,
    AppInstallation,
    AppRating,
    AppRevocation,
    AppStatusChange,
    AppSubmission,
    AppVote,
    StatusAction,
    VendorChange,
    client_id_hash,
    manifest_digest,
    scope_hash,
)
from crypto.signing.records import (
    RECORD_TYPES,
    RecordBodyRekey,
    RecordRegistration,
    RecordRekey,
    RecordSupersede,
    RecordWithdraw,
)
from crypto.signing.workflow import (
    WORKFLOW_TYPES,
    ConsultationCancel,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    ReferralAction,
    ReferralRequest,
    ReferralStep,
    reason_code,
    referral_manifest,
)

TYPES_BY_CONTRACT: dict[str, tuple[type[TypedMessage], ...]] = {
    "ConsentManager": (Consent, Revocation),
    "RecordRegistry": RECORD_TYPES,
    "AccessLog": (ReadRequest, AppReadRequest),
    "EmergencyAccess": EMERGENCY_TYPES,
    "Workflow": WORKFLOW_TYPES,
    "Marketplace": MARKETPLACE_TYPES,
}
"""Every signed type, by the contract whose domain it is signed in."""

_ALL: dict[str, type[TypedMessage]] = {
    t.primary_type(): t for types in TYPES_BY_CONTRACT.values() for t in types
}


def message_type(primary: str) -> type[TypedMessage]:
    """The dataclass of the EIP-712 type named ``primary``."""
    try:
        return _ALL[primary]
    except KeyError:
        raise SigningError(f"unknown EIP-712 type {primary!r}") from None


def type_string(primary: str) -> str:
    """``Consent(address patient,...)``: the string whose keccak is the Solidity TYPEHASH."""
    return message_type(primary).type_string()


def type_hash(primary: str) -> bytes:
    return keccak(text=type_string(primary))


def typed_data(domain: Domain, item: TypedMessage) -> dict[str, Any]:
    """The full EIP-712 payload (the JSON a wallet's ``eth_signTypedData_v4`` takes)."""
    return item.typed_data(domain)


def struct_hash(item: TypedMessage) -> bytes:
    """``hashStruct(item)``; for a ``Consent`` this is its on-chain consent id."""
    return item.struct_hash()


# The names the break-glass co-signature had before every type could use sign/recover.
cosign_typed_data = typed_data
sign_cosign = sign
recover_cosign = recover

__all__ = [
    "COSIGN_DOMAIN_NAME",
    "COSIGN_TYPES",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "EIP712_DOMAIN_TYPE",
    "EIP712_TYPES",
    "HALF_ORDER",
    "MARKETPLACE_TYPES",
    "MAX_COSIGN_LIFETIME",
    "SECP256K1_N",
    "TYPES_BY_CONTRACT",
    "ZERO_ADDRESS",
    "ZERO_BYTES32",
    "AdministratorChange",
    "AdministratorRole",
    "AppAuthorization",
    "AppInstallation",
    "AppRating",
    "AppReadRequest",
    "AppRevocation",
    "AppStatusChange",
    "AppSubmission",
    "AppVote",
    "BreakGlassCosign",
    "BreakGlassOpen",
    "BreakGlassReview",
    "Consent",
    "ConsultationCancel",
    "ConsultationClose",
    "ConsultationOpinion",
    "ConsultationRequest",
    "Domain",
    "Purpose",
    "ReadPart",
    "ReadRequest",
    "RecordBodyRekey",
    "RecordRegistration",
    "RecordRekey",
    "RecordSupersede",
    "RecordWithdraw",
    "ReferralAction",
    "ReferralRequest",
    "ReferralStep",
    "Revocation",
    "StatusAction",
    "TypedMessage",
    "VendorChange",
    "check_signature",
    "client_id_hash",
    "consent_domain",
    "consent_id",
    "cosign_domain",
    "cosign_typed_data",
    "domain_name",
    "from_compact",
    "manifest_digest",
    "message_type",
    "reason_code",
    "recover",
    "recover_cosign",
    "referral_manifest",
    "scope_hash",
    "sign",
    "sign_cosign",
    "struct_hash",
    "to_compact",
    "type_hash",
    "type_string",
    "typed_data",
]
