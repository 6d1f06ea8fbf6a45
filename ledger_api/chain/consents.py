"""Typed wrapper of ``ConsentManager``: relay patients' signed consents and revocations.

The patient signs in the wallet (EIP-712 types from :mod:`crypto.signing`, the one definition
shared with the contract); the relayer only carries the signature, which is why a patient
needs no gas. Before sending, the signature is recovered locally against the contract's own
domain: a wrong signer is answered at once as ``ConsentManagerWrongSigner`` would be, and no
transaction is spent on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto.errors import SigningError
from crypto.signing import Consent, Purpose, Revocation, consent_id, recover
from ledger_api.chain.contract import (
    PendingTx,
    SignedContract,
    check_address,
    check_bytes32,
    check_uint,
)
from ledger_api.chain.errors import InvalidChainInputError


@dataclass(frozen=True)
class GrantInfo:
    """The stored window and nonce of one consent key (zeros when there is none)."""

    not_before: int
    expires_at: int
    nonce: int


def consent_tuple(consent: Consent) -> tuple[Any, ...]:
    message = consent.message()
    return (
        message["patient"],
        message["grantee"],
        message["granteePolicyHash"],
        message["recordId"],
        message["purpose"],
        check_uint(message["notBefore"], 64, "not_before"),
        check_uint(message["expiresAt"], 64, "expires_at"),
        check_uint(message["nonce"], 256, "nonce"),
    )


class ConsentManager(SignedContract):
    NAME = "ConsentManager"

    def grant_by_sig(self, consent: Consent, signature: bytes) -> PendingTx:
        """Relay a signed consent; emits ``ConsentGranted`` with the consent id."""
        self._check_signer(consent, consent.patient, signature)
        return self._write("grantBySig", consent_tuple(consent), bytes(signature))

    def revoke_by_sig(
        self, consent: Consent, revocation: Revocation, signature: bytes
    ) -> PendingTx:
        """Relay a signed revocation of ``consent``; emits ``ConsentRevoked``."""
        if revocation.consent_id != consent_id(consent):
            raise InvalidChainInputError("the revocation names another consent than the one given")
        if check_address(revocation.patient, "patient") != check_address(consent.patient, "p"):
            raise InvalidChainInputError("the revocation's patient is not the consent's patient")
        self._check_signer(revocation, consent.patient, signature)
        return self._write(
            "revokeBySig",
            consent_tuple(consent),
            check_uint(revocation.nonce, 256, "nonce"),
            check_uint(revocation.deadline, 64, "deadline"),
            bytes(signature),
        )

    def _check_signer(self, item: Consent | Revocation, patient: str, signature: bytes) -> None:
        try:
            signer = recover(self.domain(), item, bytes(signature))
        except SigningError as exc:
            raise InvalidChainInputError(f"unusable signature: {exc}") from exc
        if signer != check_address(patient, "patient"):
            raise InvalidChainInputError(f"signed by {signer}, not by the patient {patient}")

    # -- views ----------------------------------------------------------------------------

    def is_allowed(
        self, *, patient: str, grantee: str, record_id: bytes, purpose: Purpose | int
    ) -> bool:
        return bool(
            self._read(
                "isAllowed",
                check_address(patient, "patient"),
                check_address(grantee, "grantee"),
                check_bytes32(record_id, "record_id"),
                check_uint(int(purpose), 8, "purpose"),
            )
        )

    def is_allowed_for_policy(
        self, *, patient: str, policy_hash: bytes, record_id: bytes, purpose: Purpose | int
    ) -> bool:
        return bool(
            self._read(
                "isAllowedForPolicy",
                check_address(patient, "patient"),
                check_bytes32(policy_hash, "policy_hash"),
                check_bytes32(record_id, "record_id"),
                check_uint(int(purpose), 8, "purpose"),
            )
        )

    def grant_of(self, consent: Consent) -> GrantInfo:
        """What is stored for the key of ``consent`` (patient, grantee, policy, record, purpose)."""
        fields = consent_tuple(consent)
        not_before, expires_at, nonce = self._read("grantOf", *fields[:5])
        return GrantInfo(not_before=not_before, expires_at=expires_at, nonce=nonce)

    def register_patient_key(
        self, *, patient: str, public_key: bytes, version: int, signature: bytes
    ) -> PendingTx:
        """Relay a patient's signed X25519 key registration; emits ``PatientKeyRegistered``."""
        return self._write(
            "registerPatientKey",
            check_address(patient, "patient"),
            check_bytes32(public_key, "public_key"),
            check_uint(version, 64, "version"),
            bytes(signature),
        )

    def patient_key_of(self, patient: str) -> tuple[bytes, int]:
        """``(X25519 public key, version)``; zeros when the patient registered none."""
        key, version = self._read("patientKeyOf", check_address(patient, "patient"))
        return bytes(key), int(version)

    def hash_consent(self, consent: Consent) -> bytes:
        """The on-chain consent id (equals :func:`crypto.signing.consent_id`)."""
        return bytes(self._read("hashConsent", consent_tuple(consent)))
