"""EIP-712 consents and revocations: signatures recover to the patient, and bind everything."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
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


# -- every signed type (crypto.signing subpackage) ------------------------------------------


def _samples() -> list[signing.TypedMessage]:
    r = keccak(text="record")
    return [
        signing.RecordRegistration(
            id=r,
            patient=PATIENT,
            body_cid="bafkreibody",
            header_cid="bafkreiheader",
            body_hash=keccak(text="b"),
            policy_hash=keccak(text="p"),
            record_type=b"fhir:Observation".ljust(32, b"\x00"),
            deadline=1_800_000_000,
        ),
        signing.RecordRekey(id=r, version=3, header_cid="h", policy_hash=r, deadline=1),
        signing.RecordBodyRekey(
            id=r, version=1, body_cid="b", header_cid="h", body_hash=r, policy_hash=r, deadline=2
        ),
        signing.RecordSupersede(id=r, new_id=keccak(text="new"), deadline=3),
        signing.RecordWithdraw(id=r, reason_code=255, deadline=4),
        signing.ReadRequest(
            record_id=r, part=signing.ReadPart.HEADER, purpose=2, issued_at=5, nonce=2**64 - 1
        ),
        signing.BreakGlassOpen(id=r, patient=PATIENT, reason_hash=r, window=60, deadline=6),
        signing.BreakGlassCosign(
            opening_id=r, clinician=DOCTOR, patient=PATIENT, reason_hash=r, deadline=7
        ),
        signing.BreakGlassReview(id=r, justified=True, note_hash=r, deadline=8),
        signing.ReferralRequest(referral_id=r, patient=PATIENT, to_institution=2, deadline=9),
        signing.ReferralStep.complete(r, keccak(text="summary"), deadline=10),
        signing.ConsultationRequest(
            consultation_id=r,
            patient=PATIENT,
            invited_institutions=(1, 2, 3),
            closes_at=11,
            deadline=12,
        ),
        signing.ConsultationOpinion(
            consultation_id=r, opinion_cid="o", opinion_hash=r, deadline=13
        ),
        signing.ConsultationClose(
            consultation_id=r, conclusion_cid="c", conclusion_hash=r, deadline=14
        ),
        signing.ConsultationCancel(consultation_id=r, reason=r, deadline=15),
        signing.AppReadRequest(
            record_id=r,
            part=signing.ReadPart.BODY,
            purpose=0,
            issued_at=16,
            nonce=17,
            app_id=keccak(text="app"),
            client_id=signing.client_id_hash("bp-chart"),
        ),
        signing.AppAuthorization(
            user=DOCTOR,
            patient=PATIENT,
            app_id=keccak(text="app"),
            client_id=signing.client_id_hash("bp-chart"),
            scope_hash=signing.scope_hash(["patient/Observation.rs", "launch/patient"]),
            nonce=2**256 - 1,
            deadline=18,
        ),
        signing.AppRevocation(patient=PATIENT, app_id=keccak(text="app"), nonce=0, deadline=19),
    ]


def test_app_hashes_are_canonical() -> None:
    """``scope_hash`` ignores order and repeats (the consent screen's order is not signed);
    ``client_id_hash`` is keccak-256 of the UTF-8 bytes; bad input is refused."""
    scopes = ["patient/Observation.rs", "launch/patient", "openid"]
    expected = keccak(text="launch/patient openid patient/Observation.rs")
    assert signing.scope_hash(scopes) == expected
    assert signing.scope_hash([*reversed(scopes), "openid"]) == expected
    assert signing.client_id_hash("血压-app") == keccak("血压-app".encode())
    with pytest.raises(SigningError, match="without spaces"):
        signing.scope_hash(["launch patient"])
    with pytest.raises(SigningError, match="without spaces"):
        signing.scope_hash([""])
    with pytest.raises(SigningError, match="not empty"):
        signing.client_id_hash("")
    assert signing.AppReadRequest.type_string() == (
        "AppReadRequest(bytes32 recordId,uint8 part,uint8 purpose,uint64 issuedAt,uint64 nonce,"
        "bytes32 appId,bytes32 clientId)"
    )


@pytest.mark.parametrize("message", _samples(), ids=lambda m: m.primary_type())
def test_every_type_signs_and_recovers_as_eth_account_does(message: signing.TypedMessage) -> None:
    domain = message.domain(chain_id=31337, verifying_contract=DOMAIN.verifying_contract)
    assert domain.name == f"MedLedger {message.CONTRACT}"
    signature = signing.sign(domain, message, PATIENT_KEY)
    assert signing.recover(domain, message, signature) == PATIENT
    independent = Account.sign_typed_data(
        PATIENT_KEY,
        domain.as_dict(),
        {message.primary_type(): message.eip712_fields()},
        message.message(),
    )
    assert bytes(independent.signature) == signature
    assert signing.message_type(message.primary_type()) is type(message)
    assert signing.type_hash(message.primary_type()) == keccak(text=message.type_string())


def test_struct_hash_is_the_solidity_encoding_for_strings_and_arrays() -> None:
    """``keccak256(abi.encode(TYPEHASH, ..., keccak256(bytes(s)), keccak256(abi.encodePacked(a))))``
    as RecordRegistry and Workflow compute it."""
    registration, consultation = _samples()[0], _samples()[11]
    assert isinstance(registration, signing.RecordRegistration)
    expected = keccak(
        abi_encode(
            ["bytes32"] * 2 + ["address"] + ["bytes32"] * 5 + ["uint64"],
            [
                registration.type_hash(),
                registration.id,
                registration.patient,
                keccak(text=registration.body_cid),
                keccak(text=registration.header_cid),
                registration.body_hash,
                registration.policy_hash,
                registration.record_type,
                registration.deadline,
            ],
        )
    )
    assert registration.struct_hash() == expected
    assert isinstance(consultation, signing.ConsultationRequest)
    invited = keccak(b"".join(i.to_bytes(32, "big") for i in consultation.invited_institutions))
    assert consultation.struct_hash() == keccak(
        abi_encode(
            ["bytes32", "bytes32", "address", "bytes32", "bytes32", "bytes32", "uint64", "uint64"],
            [
                consultation.type_hash(),
                consultation.consultation_id,
                consultation.patient,
                consultation.record_id,
                invited,
                consultation.policy_hash,
                consultation.closes_at,
                consultation.deadline,
            ],
        )
    )


def test_type_strings_are_the_contracts() -> None:
    assert signing.type_string("RecordRegistration") == (
        "RecordRegistration(bytes32 id,address patient,string bodyCid,string headerCid,"
        "bytes32 bodyHash,bytes32 policyHash,bytes32 recordType,uint64 deadline)"
    )
    assert signing.type_string("BreakGlassCosign") == (
        "BreakGlassCosign(bytes32 openingId,address clinician,address patient,"
        "bytes32 reasonHash,uint64 deadline)"
    )
    assert signing.type_string("ReadRequest") == (
        "ReadRequest(bytes32 recordId,uint8 part,uint8 purpose,uint64 issuedAt,uint64 nonce)"
    )
    assert signing.type_string("ConsultationRequest") == (
        "ConsultationRequest(bytes32 consultationId,address patient,bytes32 recordId,"
        "uint32[] invitedInstitutions,bytes32 policyHash,uint64 closesAt,uint64 deadline)"
    )
    with pytest.raises(SigningError, match="unknown EIP-712 type"):
        signing.type_string("Nope")


def test_each_domain_is_its_contract_and_types_do_not_cross() -> None:
    """A registration signed for RecordRegistry recovers someone else under any other
    contract's domain (same chain, same address)."""
    message = _samples()[0]
    address = DOMAIN.verifying_contract
    signature = signing.sign(
        message.domain(chain_id=31337, verifying_contract=address), message, PATIENT_KEY
    )
    for contract in signing.TYPES_BY_CONTRACT:
        if contract == "RecordRegistry":
            continue
        other = signing.Domain.of(contract, chain_id=31337, verifying_contract=address)
        assert signing.recover(other, message, signature) != PATIENT


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"id": b"\x01" * 31}, "id must be 32 bytes, got 31"),
        ({"patient": "0x12"}, "patient must be a 20-byte hex address"),
        ({"deadline": 2**64}, r"deadline must be an integer in \[0, 2\^64\)"),
        ({"deadline": True}, "deadline must be an integer"),
        ({"body_cid": b"x"}, "bodyCid must be a string"),
    ],
)
def test_malformed_fields_are_named(changes: dict[str, object], match: str) -> None:
    message = dataclasses.replace(_samples()[0], **changes)  # type: ignore[arg-type]
    with pytest.raises(SigningError, match=match):
        message.struct_hash()
    with pytest.raises(SigningError, match=match):
        signing.sign(DOMAIN, message, PATIENT_KEY)


def test_arrays_and_bools_are_checked() -> None:
    consultation = _samples()[11]
    for bad, match in (
        ((1, 2**32), r"invitedInstitutions\[1\] must be an integer"),
        ("12", "invitedInstitutions must be a list"),
    ):
        with pytest.raises(SigningError, match=match):
            dataclasses.replace(consultation, invited_institutions=bad).message()  # type: ignore[arg-type]
    review = _samples()[8]
    with pytest.raises(SigningError, match="justified must be a bool"):
        dataclasses.replace(review, justified=1).message()  # type: ignore[arg-type]


def test_malleable_twins_and_bad_v_are_refused_like_the_contracts_do() -> None:
    message = _samples()[0]
    signature = signing.sign(DOMAIN, message, PATIENT_KEY)
    s = int.from_bytes(signature[32:64], "big")
    twin = (
        signature[:32] + (signing.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    )
    # eth-account alone accepts the twin (same signer): recover() must refuse it, as ecrecover
    # behind the contracts' low-s check does
    signable = encode_typed_data(full_message=message.typed_data(DOMAIN))
    assert Account.recover_message(signable, signature=twin) == PATIENT
    with pytest.raises(SigningError, match="upper half"):
        signing.recover(DOMAIN, message, twin)
    for v in (0, 1, 29):
        with pytest.raises(SigningError, match="v must be 27 or 28"):
            signing.recover(DOMAIN, message, signature[:64] + bytes([v]))
    with pytest.raises(SigningError, match="must be bytes"):
        signing.check_signature("0x" + signature.hex())  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32).filter(
        lambda k: 0 < int.from_bytes(k, "big") < signing.SECP256K1_N
    )
)
def test_compact_signatures_round_trip(key: bytes) -> None:
    message = _samples()[5]
    signature = signing.sign(DOMAIN, message, key)
    r, vs = signing.to_compact(signature)
    assert signing.from_compact(r, vs) == signature
    assert (
        signing.recover(DOMAIN, message, signing.from_compact(r, vs))
        == Account.from_key(key).address
    )
    with pytest.raises(SigningError, match="two 32-byte words"):
        signing.from_compact(r, vs[:31])


def test_old_names_still_work() -> None:
    """``from crypto.signing import ...`` as before the subpackage: consents, the co-signature
    helpers, the constants the wallet export and the API use."""
    assert signing.DOMAIN_NAME == "MedLedger ConsentManager"
    assert signing.COSIGN_DOMAIN_NAME == "MedLedger EmergencyAccess"
    assert set(signing.EIP712_TYPES) == {"Consent", "Revocation"}
    assert signing.COSIGN_TYPES["BreakGlassCosign"][0] == {"name": "openingId", "type": "bytes32"}
    cosign = _samples()[7]
    domain = signing.cosign_domain(chain_id=1, verifying_contract=DOMAIN.verifying_contract)
    sig = signing.sign_cosign(domain, cosign, PATIENT_KEY)  # type: ignore[arg-type]
    assert signing.recover_cosign(domain, cosign, sig) == PATIENT  # type: ignore[arg-type]
    assert signing.cosign_typed_data(domain, cosign)["primaryType"] == "BreakGlassCosign"
    assert signing.struct_hash(_consent()) == signing.consent_id(_consent())
