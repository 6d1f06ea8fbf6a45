"""EIP-712 typed data for patient consents and revocations: the one definition of the types.

The same structures are declared in ``contracts/src/ConsentManager.sol``; the wallet web app,
the SDK and the tests all build their messages from :data:`EIP712_TYPES` here, and a test
signs with eth-account's ``sign_typed_data`` and has the contract accept it. Keeping the
types in one place is what stops a client and the contract from disagreeing on a field.

Semantics (enforced by ``ConsentManager``):

- ``grantee`` is an address, or ``address(0)`` when the consent names an attribute policy by
  its hash in ``granteePolicyHash`` (exactly one of the two is set);
- ``recordId`` is one record, or ``bytes32(0)`` for the patient's whole chart;
- ``notBefore`` / ``expiresAt`` are unix seconds (``expiresAt`` 0 is refused: consents end);
- ``nonce`` is chosen by the patient's wallet, strictly increasing per patient; a nonce that
  was already used is rejected, so a signed message can be relayed once only;
- a revocation names the consent by its id (the EIP-712 struct hash of the ``Consent``) and
  carries a ``deadline`` after which it can no longer be relayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from crypto.errors import SigningError

DOMAIN_NAME = "MedLedger ConsentManager"
DOMAIN_VERSION = "1"
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\x00" * 32


class Purpose(IntEnum):
    """Why access is granted; the numbers are the contract's ``uint8`` purpose codes."""

    TREATMENT = 0
    REFERRAL = 1
    CONSULTATION = 2
    EMERGENCY = 3
    RESEARCH = 4


EIP712_DOMAIN_TYPE: list[dict[str, str]] = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "Consent": [
        {"name": "patient", "type": "address"},
        {"name": "grantee", "type": "address"},
        {"name": "granteePolicyHash", "type": "bytes32"},
        {"name": "recordId", "type": "bytes32"},
        {"name": "purpose", "type": "uint8"},
        {"name": "notBefore", "type": "uint64"},
        {"name": "expiresAt", "type": "uint64"},
        {"name": "nonce", "type": "uint256"},
    ],
    "Revocation": [
        {"name": "patient", "type": "address"},
        {"name": "consentId", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint64"},
    ],
}


# Break-glass co-signature (``contracts/src/EmergencyAccess.sol``): a second active doctor
# vouches for a colleague's emergency opening beyond the daily cap. Its own domain (the
# EmergencyAccess contract), kept apart from EIP712_TYPES, which the patient wallet exports.
COSIGN_DOMAIN_NAME = "MedLedger EmergencyAccess"
COSIGN_TYPES: dict[str, list[dict[str, str]]] = {
    "BreakGlassCosign": [
        {"name": "clinician", "type": "address"},
        {"name": "patient", "type": "address"},
        {"name": "reasonHash", "type": "bytes32"},
        {"name": "deadline", "type": "uint64"},
    ],
}


def type_string(primary: str) -> str:
    """``Consent(address patient,...)``: the string whose keccak is the Solidity TYPEHASH."""
    fields = ",".join(f"{f['type']} {f['name']}" for f in EIP712_TYPES[primary])
    return f"{primary}({fields})"


def type_hash(primary: str) -> bytes:
    return keccak(text=type_string(primary))


@dataclass(frozen=True, kw_only=True)
class Domain:
    """The EIP-712 domain of one deployed ``ConsentManager`` on one chain."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True, kw_only=True)
class Consent:
    """A patient's grant of access, as signed in the wallet."""

    patient: str
    grantee: str = ZERO_ADDRESS
    grantee_policy_hash: bytes = ZERO_BYTES32
    record_id: bytes = ZERO_BYTES32
    purpose: Purpose = Purpose.TREATMENT
    not_before: int = 0
    expires_at: int
    nonce: int

    def message(self) -> dict[str, Any]:
        return {
            "patient": to_checksum_address(self.patient),
            "grantee": to_checksum_address(self.grantee),
            "granteePolicyHash": _bytes32(self.grantee_policy_hash, "granteePolicyHash"),
            "recordId": _bytes32(self.record_id, "recordId"),
            "purpose": int(self.purpose),
            "notBefore": self.not_before,
            "expiresAt": self.expires_at,
            "nonce": self.nonce,
        }


@dataclass(frozen=True, kw_only=True)
class Revocation:
    """A patient's withdrawal of one consent, named by its id."""

    patient: str
    consent_id: bytes
    nonce: int
    deadline: int

    def message(self) -> dict[str, Any]:
        return {
            "patient": to_checksum_address(self.patient),
            "consentId": _bytes32(self.consent_id, "consentId"),
            "nonce": self.nonce,
            "deadline": self.deadline,
        }


def typed_data(domain: Domain, item: Consent | Revocation) -> dict[str, Any]:
    """The full EIP-712 payload (the JSON a wallet's ``eth_signTypedData_v4`` takes)."""
    primary = type(item).__name__
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, primary: EIP712_TYPES[primary]},
        "primaryType": primary,
        "domain": domain.as_dict(),
        "message": item.message(),
    }


def struct_hash(item: Consent | Revocation) -> bytes:
    """``hashStruct(item)``; for a ``Consent`` this is its on-chain consent id."""
    primary = type(item).__name__
    signable = encode_typed_data(
        full_message={
            "types": {"EIP712Domain": [], primary: EIP712_TYPES[primary]},
            "primaryType": primary,
            "domain": {},
            "message": item.message(),
        }
    )
    return bytes(signable.body)


def consent_id(consent: Consent) -> bytes:
    return struct_hash(consent)


def sign(domain: Domain, item: Consent | Revocation, private_key: bytes | str) -> bytes:
    """Sign as the patient's wallet would (65-byte ``r‖s‖v``)."""
    signable = encode_typed_data(full_message=typed_data(domain, item))
    signed = Account.sign_message(signable, private_key)
    return bytes(signed.signature)


def recover(domain: Domain, item: Consent | Revocation, signature: bytes) -> str:
    """The checksummed address that signed ``item`` under ``domain``."""
    if len(signature) != 65:
        raise SigningError(f"signature must be 65 bytes, got {len(signature)}")
    try:
        return Account.recover_message(
            encode_typed_data(full_message=typed_data(domain, item)), signature=signature
        )
    except Exception as exc:  # eth-keys raises several types for a malformed signature
        raise SigningError(f"invalid signature: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class BreakGlassCosign:
    """A second doctor's co-signature of a colleague's break-glass opening (see
    :data:`COSIGN_TYPES`): binds the clinician, the patient, the reason's keccak and a deadline."""

    clinician: str
    patient: str
    reason_hash: bytes
    deadline: int

    def message(self) -> dict[str, Any]:
        return {
            "clinician": to_checksum_address(self.clinician),
            "patient": to_checksum_address(self.patient),
            "reasonHash": _bytes32(self.reason_hash, "reasonHash"),
            "deadline": self.deadline,
        }


def cosign_domain(*, chain_id: int, verifying_contract: str) -> Domain:
    """The EIP-712 domain of one deployed ``EmergencyAccess``."""
    return Domain(chain_id=chain_id, verifying_contract=verifying_contract, name=COSIGN_DOMAIN_NAME)


def cosign_typed_data(domain: Domain, item: BreakGlassCosign) -> dict[str, Any]:
    """The EIP-712 payload of a co-signature (``eth_signTypedData_v4`` JSON)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, **COSIGN_TYPES},
        "primaryType": "BreakGlassCosign",
        "domain": domain.as_dict(),
        "message": item.message(),
    }


def sign_cosign(domain: Domain, item: BreakGlassCosign, private_key: bytes | str) -> bytes:
    """Sign a co-signature as the second doctor's wallet would (65-byte ``r‖s‖v``)."""
    signable = encode_typed_data(full_message=cosign_typed_data(domain, item))
    return bytes(Account.sign_message(signable, private_key).signature)


def recover_cosign(domain: Domain, item: BreakGlassCosign, signature: bytes) -> str:
    """The checksummed address that signed the co-signature."""
    if len(signature) != 65:
        raise SigningError(f"signature must be 65 bytes, got {len(signature)}")
    try:
        return Account.recover_message(
            encode_typed_data(full_message=cosign_typed_data(domain, item)), signature=signature
        )
    except Exception as exc:  # eth-keys raises several types for a malformed signature
        raise SigningError(f"invalid signature: {exc}") from exc


def _bytes32(value: bytes, name: str) -> bytes:
    if len(value) != 32:
        raise SigningError(f"{name} must be 32 bytes, got {len(value)}")
    return value
