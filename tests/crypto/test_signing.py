"""EIP-712 consents and revocations: signatures recover to the patient, and bind everything."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import signing
from crypto.errors import SigningError
from tests.conftest import ANVIL_KEYS

PATIENT_KEY = ANVIL_KEYS[5]
PATIENT = Account.from_key(PATIENT_KEY).address
DOCTOR = Account.from_key(ANVIL_KEYS[6]).address
DOMAIN = signing.Domain(
    chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3"
)
RECORD = keccak(text="record:cd3h:2026-0001")


def _consent(**changes: object) -> signing.Consent:
    base = signing.Consent(
        patient=PATIENT,
        grantee=DOCTOR,
        record_id=RECORD,
        purpose=signing.Purpose.REFERRAL,
        not_before=1_767_225_600,
        expires_at=1_767_225_600 + 30 * 86400,
        nonce=7,
    )
    return dataclasses.replace(base, **changes)


def test_consent_signature_recovers_to_the_patient() -> None:
    consent = _consent()
    signature = signing.sign(DOMAIN, consent, PATIENT_KEY)
    assert len(signature) == 65
    assert signing.recover(DOMAIN, consent, signature) == PATIENT


def test_signature_matches_eth_account_typed_data_api() -> None:
    """Cross-check against eth-account's separate ``sign_typed_data`` entry point."""
    consent = _consent()
    types = {"Consent": signing.EIP712_TYPES["Consent"]}
    signed = Account.sign_typed_data(PATIENT_KEY, DOMAIN.as_dict(), types, consent.message())
    assert bytes(signed.signature) == signing.sign(DOMAIN, consent, PATIENT_KEY)


def test_type_strings_are_the_solidity_typehashes() -> None:
    assert signing.type_string("Consent") == (
        "Consent(address patient,address grantee,bytes32 granteePolicyHash,bytes32 recordId,"
        "uint8 purpose,uint64 notBefore,uint64 expiresAt,uint256 nonce)"
    )
    assert signing.type_string("Revocation") == (
        "Revocation(address patient,bytes32 consentId,uint256 nonce,uint64 deadline)"
    )
    assert signing.type_hash("Consent") == keccak(text=signing.type_string("Consent"))


def test_consent_id_is_the_solidity_struct_hash() -> None:
    """``keccak256(abi.encode(TYPEHASH, ...))`` as ConsentManager computes it."""
    c = _consent()
    expected = keccak(
        abi_encode(
            [
                "bytes32",
                "address",
                "address",
                "bytes32",
                "bytes32",
                "uint8",
                "uint64",
                "uint64",
                "uint256",
            ],
            [
                signing.type_hash("Consent"),
                c.patient,
                c.grantee,
                c.grantee_policy_hash,
                c.record_id,
                int(c.purpose),
                c.not_before,
                c.expires_at,
                c.nonce,
            ],
        )
    )
    assert signing.consent_id(c) == expected


@pytest.mark.parametrize(
    "domain",
    [
        dataclasses.replace(DOMAIN, chain_id=1),
        dataclasses.replace(
            DOMAIN, verifying_contract="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
        ),
        dataclasses.replace(DOMAIN, name="Other"),
        dataclasses.replace(DOMAIN, version="2"),
    ],
)
def test_another_domain_recovers_another_address(domain: signing.Domain) -> None:
    consent = _consent()
    signature = signing.sign(DOMAIN, consent, PATIENT_KEY)
    assert signing.recover(domain, consent, signature) != PATIENT


@pytest.mark.parametrize(
    "changes",
    [
        {"patient": DOCTOR},
        {"grantee": PATIENT},
        {"grantee_policy_hash": b"\x01" * 32},
        {"record_id": signing.ZERO_BYTES32},
        {"purpose": signing.Purpose.RESEARCH},
        {"not_before": 1_767_225_601},
        {"expires_at": 1_767_225_600 + 31 * 86400},
        {"nonce": 8},
    ],
)
def test_any_changed_consent_field_recovers_another_address(changes: dict[str, object]) -> None:
    signature = signing.sign(DOMAIN, _consent(), PATIENT_KEY)
    assert signing.recover(DOMAIN, _consent(**changes), signature) != PATIENT


@settings(max_examples=25, deadline=None)
@given(
    nonce=st.integers(min_value=0, max_value=2**256 - 1),
    expires_at=st.integers(min_value=1, max_value=2**64 - 1),
    purpose=st.sampled_from(list(signing.Purpose)),
)
def test_consent_round_trip_property(nonce: int, expires_at: int, purpose: signing.Purpose) -> None:
    consent = _consent(nonce=nonce, expires_at=expires_at, purpose=purpose)
    signature = signing.sign(DOMAIN, consent, PATIENT_KEY)
    assert signing.recover(DOMAIN, consent, signature) == PATIENT
    assert signing.recover(DOMAIN, dataclasses.replace(consent, nonce=nonce ^ 1), signature) != (
        PATIENT
    )


def test_revocation_signature_binds_the_consent_id() -> None:
    revocation = signing.Revocation(
        patient=PATIENT, consent_id=signing.consent_id(_consent()), nonce=8, deadline=1_767_300_000
    )
    signature = signing.sign(DOMAIN, revocation, PATIENT_KEY)
    assert signing.recover(DOMAIN, revocation, signature) == PATIENT
    other = dataclasses.replace(revocation, consent_id=signing.consent_id(_consent(nonce=9)))
    assert signing.recover(DOMAIN, other, signature) != PATIENT
    payload = signing.typed_data(DOMAIN, revocation)
    assert payload["primaryType"] == "Revocation"
    assert payload["domain"]["chainId"] == 31337


def test_bad_inputs_raise_signing_error() -> None:
    consent = _consent()
    with pytest.raises(SigningError, match="65 bytes"):
        signing.recover(DOMAIN, consent, b"\x00" * 64)
    with pytest.raises(SigningError, match="invalid signature"):
        signing.recover(DOMAIN, consent, b"\x00" * 64 + b"\x05")
    with pytest.raises(SigningError, match="recordId must be 32 bytes"):
        signing.sign(DOMAIN, _consent(record_id=b"short"), PATIENT_KEY)
