"""Building, signing and re-reading patient consents on the client (EIP-712).

The patient's key never leaves the client: the SDK builds the :class:`crypto.signing.Consent`
here, signs it in the domain the API reports (``GET /chain``), and sends only the signature.
A revocation must name the consent by its id, the hash of the exact fields that were signed,
so :func:`consent_from_json` rebuilds those fields from the API's listing and the caller
checks the id before signing anything.
"""

from __future__ import annotations

import time
from typing import Any

from eth_utils import is_address, to_checksum_address

from clients.sdk.errors import ClientError
from crypto.errors import PolicyError
from crypto.policy import normalize, policy_hash
from crypto.signing import ZERO_ADDRESS, ZERO_BYTES32, Consent, Purpose


def parse_purpose(purpose: str | int | Purpose) -> Purpose:
    """``treatment`` / ``referral`` / … or the contract's code 0-4."""
    if isinstance(purpose, Purpose):
        return purpose
    if isinstance(purpose, int):
        try:
            return Purpose(purpose)
        except ValueError:
            raise ClientError(f"unknown purpose code {purpose}") from None
    try:
        return Purpose[str(purpose).strip().upper()]
    except KeyError:
        names = ", ".join(p.name.lower() for p in Purpose)
        raise ClientError(f"unknown purpose {purpose!r}; one of {names}") from None


def checked_address(value: str, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ClientError(f"{what} is not an Ethereum address: {value!r}")
    return to_checksum_address(value)


def bytes32(value: str | bytes | None, what: str) -> bytes:
    """``0x``-hex (or raw) 32 bytes; ``None`` is the zero value (whole chart, no policy)."""
    if value is None:
        return ZERO_BYTES32
    if isinstance(value, bytes):
        raw = value
    else:
        text = value[2:] if value[:2].lower() == "0x" else value
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ClientError(f"{what} is not hex: {value!r}") from None
    if len(raw) != 32:
        raise ClientError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def next_nonce(above: int = 0) -> int:
    """A fresh nonce: the clock in nanoseconds, so it rises across runs without local state.

    ``ConsentManager`` wants each nonce above the last one stored for the same consent key."""
    return max(time.time_ns(), above + 1)


def build_consent(
    *,
    patient: str,
    grantee: str | None,
    grantee_policy: str | None,
    record_id: str | bytes | None,
    purpose: str | int | Purpose,
    not_before: int,
    expires_at: int,
) -> tuple[Consent, str | None]:
    """The consent to sign and the normalized grantee policy (to send beside its hash)."""
    if (grantee is None) == (grantee_policy is None):
        raise ClientError("name exactly one of grantee (an address) or grantee_policy")
    normalized = None
    policy_digest = ZERO_BYTES32
    if grantee_policy is not None:
        try:
            normalized = normalize(grantee_policy)
        except PolicyError as exc:
            raise ClientError(f"invalid grantee policy: {exc}") from None
        policy_digest = policy_hash(normalized)
    if expires_at <= max(not_before, int(time.time())):
        raise ClientError("the consent would already be expired: expires_at must be in the future")
    consent = Consent(
        patient=checked_address(patient, "patient"),
        grantee=checked_address(grantee, "grantee") if grantee else ZERO_ADDRESS,
        grantee_policy_hash=policy_digest,
        record_id=bytes32(record_id, "record_id"),
        purpose=parse_purpose(purpose),
        not_before=not_before,
        expires_at=expires_at,
        nonce=next_nonce(),
    )
    return consent, normalized


def consent_json(consent: Consent) -> dict[str, Any]:
    """The ``consent`` object of ``POST /consents`` (snake_case, 0x hex, zeros omitted)."""
    return {
        "patient": consent.patient,
        "grantee": None if consent.grantee == ZERO_ADDRESS else consent.grantee,
        "grantee_policy_hash": None
        if consent.grantee_policy_hash == ZERO_BYTES32
        else "0x" + consent.grantee_policy_hash.hex(),
        "record_id": None if consent.record_id == ZERO_BYTES32 else "0x" + consent.record_id.hex(),
        "purpose": int(consent.purpose),
        "not_before": consent.not_before,
        "expires_at": consent.expires_at,
        "nonce": consent.nonce,
    }


def consent_from_json(item: dict[str, Any]) -> Consent:
    """The signed fields of a consent from a ``GET /consents`` item."""
    return Consent(
        patient=checked_address(item["patient"], "patient"),
        grantee=checked_address(item["grantee"], "grantee")
        if item.get("grantee")
        else ZERO_ADDRESS,
        grantee_policy_hash=bytes32(item.get("grantee_policy_hash"), "grantee_policy_hash"),
        record_id=bytes32(item.get("record_id"), "record_id"),
        purpose=parse_purpose(item["purpose"]),
        not_before=int(item["not_before"]),
        expires_at=int(item["expires_at"]),
        nonce=int(item["nonce"]),
    )
