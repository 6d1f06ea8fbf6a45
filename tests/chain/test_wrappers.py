"""The typed wrappers against the real contracts on a real anvil: consortium, records, consents.

Every write that acts in someone's name takes the signed message and its signature; the
relayer only carries them (``tests/chain/signed.py`` makes the messages).
"""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from crypto.signing import (
    Consent,
    Purpose,
    RecordBodyRekey,
    RecordRekey,
    RecordSupersede,
    RecordWithdraw,
    Revocation,
    consent_id,
    sign,
)
from ledger_api.chain.connection import rpc
from ledger_api.chain.consortium import Role
from ledger_api.chain.contract import event_decoder
from ledger_api.chain.errors import InvalidChainInputError, TransactionRevertedError
from ledger_api.chain.records import RecordStatus
from tests.chain.conftest import RELAYER_KEY, Consortium2
from tests.chain.signed import deadline, registration, signed_registration


def test_consortium_members_roles_and_attributes(medledger: Consortium2) -> None:
    consortium = medledger.client.consortium
    info = consortium.institution(medledger.hospital)
    assert (info.name, info.code, info.active) == ("成都市第三人民医院", "cd3h", True)
    assert consortium.institution_id_by_code("CD3H") == medledger.hospital
    member = consortium.member_info(medledger.doctor)
    assert (member.institution_id, member.role, member.active) == (
        medledger.hospital,
        Role.DOCTOR,
        True,
    )
    assert consortium.attributes_of(medledger.doctor) == ["dept:cardiology", "title:attending"]
    assert consortium.has_attribute(medledger.doctor, "dept:cardiology")
    assert consortium.is_relayer(medledger.client.relayer.address)

    nurse = Account.create().address
    admin = medledger.admin
    enrolled = admin.enrol_member(
        account=nurse, institution_id=medledger.county, role=Role.NURSE, attributes=["ward:3"]
    ).wait()
    assert enrolled.event("MemberEnrolled").args["account"] == nurse
    admin.suspend_member(account=nurse).wait()
    assert not consortium.is_member(nurse)
    admin.reinstate_member(account=nurse).wait()
    assert consortium.is_member(nurse)
    admin.update_member(account=nurse, role=Role.DOCTOR, attributes=["dept:surgery"]).wait()
    assert consortium.role_of(nurse) is Role.DOCTOR
    admin.remove_member(account=nurse).wait()
    assert consortium.role_of(nurse) is Role.NONE
    assert consortium.institution_of(nurse) == 0


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("org:cd3h", "reserved namespace 'org'"),
        ("epoch:99", "reserved namespace 'epoch'"),
        ("Dept:Cardiology", "nothing folded"),
        ("dept:ſurgery", "nothing folded"),
        ("dept cardiology", "nothing folded"),
        ("dept:" + "x" * 28, "at most 32"),
    ],
)
def test_attributes_are_checked_before_sending(
    medledger: Consortium2, attribute: str, message: str
) -> None:
    nonce = medledger.admin.sender.pending_nonce()  # type: ignore[union-attr]
    with pytest.raises(InvalidChainInputError, match=message):
        medledger.admin.enrol_member(
            account=Account.create().address,
            institution_id=medledger.county,
            role=Role.DOCTOR,
            attributes=[attribute],
        )
    assert medledger.admin.sender.pending_nonce() == nonce  # type: ignore[union-attr]


def test_reserved_namespaces_agree_with_the_contract(medledger: Consortium2) -> None:
    from crypto.attributes import RESERVED_NAMESPACES

    consortium = medledger.client.consortium
    assert all(consortium.is_reserved_namespace(n) for n in RESERVED_NAMESPACES)
    assert not any(consortium.is_reserved_namespace(n) for n in ("dept", "title", "ward"))


def test_gateway_enrolment_and_config_log(medledger: Consortium2) -> None:
    from ledger_api.chain.consortium import Consortium
    from ledger_api.chain.relayer import Relayer

    gateway = Account.create()
    medledger.admin.enrol_member(
        account=gateway.address, institution_id=medledger.hospital, role=Role.GATEWAY
    ).wait()
    assert medledger.client.consortium.member_info(gateway.address).role is Role.GATEWAY
    digest = os.urandom(32)
    w3 = medledger.client.w3
    as_gateway = Consortium(w3, medledger.admin.address, sender=Relayer(w3, gateway.key))
    mined = as_gateway.record_gateway_config(
        gateway=gateway.address, name="his-adt", version=3, digest=digest
    ).wait()
    assert mined.event("GatewayConfigApplied").args == {
        "institutionId": medledger.hospital,
        "gateway": gateway.address,
        "name": b"his-adt".ljust(32, b"\x00"),
        "version": 3,
        "digest": digest,
    }


def test_non_admin_is_refused_by_name(medledger: Consortium2) -> None:
    # The relayer is no consortium admin: gas estimation already reverts, nothing is sent.
    nonce = medledger.client.relayer.pending_nonce()
    with pytest.raises(TransactionRevertedError) as caught:
        medledger.client.consortium.add_institution(
            name="x", code="x", admin=medledger.doctor
        ).wait()
    assert caught.value.error_name == "ConsortiumUnauthorized"
    assert caught.value.error_args == {
        "caller": medledger.client.relayer.address,
        "admin": medledger.client.consortium.admin(),
    }
    assert caught.value.tx_hash is None
    assert medledger.client.relayer.pending_nonce() == nonce


def test_register_one_and_batch_then_views_and_events(medledger: Consortium2) -> None:
    records = medledger.client.records
    patient = Account.create().address
    one, signature = signed_registration(records, medledger.doctor_account, patient)
    assert records.hash_struct(one) == one.struct_hash()
    mined = records.register(one, signature).wait()
    event = mined.event("RecordRegistered")
    assert event.args["id"] == one.id
    assert event.args["patient"] == patient
    assert event.args["author"] == medledger.doctor  # recovered from the signature
    assert event.args["authorInstitution"] == medledger.hospital
    assert event.args["bodyCid"] == one.body_cid
    info = records.record_of(one.id)
    assert (info.patient, info.status, info.version) == (patient, RecordStatus.ACTIVE, 1)
    assert info.registered_at == event.args["registeredAt"]

    batch = [signed_registration(records, medledger.doctor_account, patient) for _ in range(5)]
    mined = records.register_batch(batch).wait()
    ids = [e.args["id"] for e in mined.events if e.name == "RecordRegistered"]
    assert ids == [r.id for r, _ in batch]
    assert all(records.is_active(r.id) for r, _ in batch)
    assert records.patient_of(batch[0][0].id) == patient

    # The same events come back from eth_getLogs, decoded the same way.
    logs = rpc(
        medledger.client.w3,
        "eth_getLogs",
        [{"fromBlock": hex(mined.block_number), "toBlock": hex(mined.block_number)}],
    )
    decoded = [event_decoder().decode(log) for log in logs]
    assert [e.args["id"] for e in decoded if e] == ids


def test_a_patient_registers_their_own_record(medledger: Consortium2) -> None:
    patient = Account.create()
    records = medledger.client.records
    message, signature = signed_registration(records, patient, patient.address)
    event = records.register(message, signature).wait().event("RecordRegistered")
    assert (event.args["author"], event.args["authorInstitution"]) == (patient.address, 0)


def test_duplicate_record_reverts_with_decoded_custom_error(medledger: Consortium2) -> None:
    records = medledger.client.records
    record, signature = signed_registration(
        records, medledger.doctor_account, Account.create().address
    )
    records.register(record, signature).wait()
    with pytest.raises(TransactionRevertedError) as before_send:
        records.register(record, signature)
    assert before_send.value.error_name == "RecordRegistryDuplicateId"
    assert before_send.value.error_args == {"id": record.id}
    assert before_send.value.tx_hash is None

    # With a fixed gas limit there is no estimate: the transaction is mined, fails, and the
    # relayer replays it to name the error.
    pending = records.register(record, signature, gas=500_000)
    with pytest.raises(TransactionRevertedError) as mined:
        pending.wait()
    assert mined.value.error_name == "RecordRegistryDuplicateId"
    assert mined.value.error_args == {"id": record.id}
    assert mined.value.tx_hash == pending.tx_hash


def test_rekey_body_rekey_supersede_and_withdraw(medledger: Consortium2) -> None:
    records = medledger.client.records
    w3 = medledger.client.w3
    patient = Account.create()
    record, signature = signed_registration(records, medledger.doctor_account, patient.address)
    records.register(record, signature).wait()
    rekey = RecordRekey(
        id=record.id,
        version=1,
        header_cid="bafkreinewheader",
        policy_hash=os.urandom(32),
        deadline=deadline(w3),
    )
    assert records.hash_struct(rekey) == rekey.struct_hash()
    mined = records.rekey(rekey, records.sign_as(patient, rekey)).wait()
    assert mined.event("RecordRekeyed").args["version"] == 2
    assert mined.event("RecordRekeyed").args["actor"] == patient.address
    with pytest.raises(TransactionRevertedError) as stale:  # the same re-key applies once
        records.rekey(rekey, records.sign_as(patient, rekey))
    assert stale.value.error_name == "RecordRegistryStaleVersion"

    body = RecordBodyRekey(
        id=record.id,
        version=2,
        body_cid="bafkreinewbody",
        header_cid="bafkreinewerheader",
        body_hash=os.urandom(32),
        policy_hash=os.urandom(32),
        deadline=deadline(w3),
    )
    assert records.hash_struct(body) == body.struct_hash()
    mined = records.rekey_body(body, records.sign_as(medledger.doctor_account, body)).wait()
    assert mined.event("RecordBodyRekeyed").args["version"] == 3
    assert records.record_of(record.id).version == 3

    newer, newer_signature = signed_registration(records, medledger.doctor_account, patient.address)
    records.register(newer, newer_signature).wait()
    supersede = RecordSupersede(id=record.id, new_id=newer.id, deadline=deadline(w3))
    assert records.hash_struct(supersede) == supersede.struct_hash()
    records.supersede(supersede, records.sign_as(patient, supersede)).wait()
    assert records.record_of(record.id).status is RecordStatus.SUPERSEDED

    withdraw = RecordWithdraw(id=newer.id, reason_code=3, deadline=deadline(w3))
    assert records.hash_struct(withdraw) == withdraw.struct_hash()
    with pytest.raises(TransactionRevertedError) as caught:  # another institution's doctor
        records.withdraw(withdraw, records.sign_as(medledger.county_doctor_account, withdraw))
    assert caught.value.error_name == "RecordRegistryUnauthorized"
    with pytest.raises(TransactionRevertedError) as forged:  # the relayer alone: no actor
        records.withdraw(withdraw, b"")
    assert forged.value.error_name == "RecordRegistryUnauthorized"
    records.withdraw(withdraw, records.sign_as(medledger.doctor_account, withdraw)).wait()
    assert records.record_of(newer.id).status is RecordStatus.WITHDRAWN


def test_consent_grant_and_revoke_by_signature(medledger: Consortium2) -> None:
    consents = medledger.client.consents
    patient = Account.create()
    now = medledger.client.w3.eth.get_block("latest")["timestamp"]
    consent = Consent(
        patient=patient.address,
        grantee=medledger.county_doctor,
        purpose=Purpose.REFERRAL,
        expires_at=now + 3600,
        nonce=1,
    )
    assert consents.hash_consent(consent) == consent_id(consent)
    signature = sign(consents.domain(), consent, patient.key)
    assert consents.sign_as(patient, consent) == signature
    query = {
        "patient": patient.address,
        "grantee": medledger.county_doctor,
        "record_id": os.urandom(32),  # a whole-chart consent covers any record
        "purpose": Purpose.REFERRAL,
    }
    assert not consents.is_allowed(**query)
    mined = consents.grant_by_sig(consent, signature).wait()
    assert mined.event("ConsentGranted").args["consentId"] == consent_id(consent)
    assert consents.is_allowed(**query)
    assert consents.grant_of(consent).expires_at == now + 3600

    revocation = Revocation(
        patient=patient.address, consent_id=consent_id(consent), nonce=2, deadline=now + 600
    )
    consents.revoke_by_sig(
        consent, revocation, sign(consents.domain(), revocation, patient.key)
    ).wait()
    assert not consents.is_allowed(**query)

    # Replaying the consent is refused by the contract, by name.
    with pytest.raises(TransactionRevertedError) as caught:
        consents.grant_by_sig(consent, signature)
    assert caught.value.error_name == "ConsentManagerNonceUsed"


def test_consent_signed_by_someone_else_is_refused_before_sending(
    medledger: Consortium2,
) -> None:
    consents = medledger.client.consents
    patient, thief = Account.create(), Account.create()
    consent = Consent(patient=patient.address, grantee=thief.address, expires_at=2**40, nonce=1)
    nonce = medledger.client.relayer.pending_nonce()
    with pytest.raises(InvalidChainInputError, match="not by the patient"):
        consents.grant_by_sig(consent, sign(consents.domain(), consent, thief.key))
    assert medledger.client.relayer.pending_nonce() == nonce


@pytest.mark.parametrize(
    ("overrides", "signature", "message"),
    [
        ({"id": b"\x01" * 31}, None, "id must be 32 bytes, got 31"),
        ({"patient": "0x1234"}, None, "patient must be a 20-byte hex address"),
        ({"deadline": -1}, None, r"deadline must be an integer in \[0, 2\^64\)"),
        ({"body_cid": 7}, None, "bodyCid must be a string"),
        ({}, b"\x00" * 64, "signature must be 65 bytes"),
        ({}, b"\x01" * 64 + b"\x05", "v must be 27 or 28"),
        ({}, b"\x01" * 32 + b"\xff" * 32 + b"\x1b", "upper half"),
    ],
)
def test_malformed_input_is_refused_before_sending(
    medledger: Consortium2,
    overrides: dict[str, object],
    signature: bytes | None,
    message: str,
) -> None:
    nonce = medledger.client.relayer.pending_nonce()
    registry = medledger.client.records
    fields = dict(overrides)
    patient = str(fields.pop("patient", Account.create().address))
    record = registration(registry.w3, patient, **fields)
    with pytest.raises(InvalidChainInputError, match=message):
        registry.register(record, signature if signature is not None else b"\x00" * 65)
    assert medledger.client.relayer.pending_nonce() == nonce


def test_batch_bounds_are_checked_locally(medledger: Consortium2) -> None:
    patient = Account.create().address
    records = medledger.client.records
    with pytest.raises(InvalidChainInputError, match="1 to 64 entries, got 65"):
        records.register_batch(
            [signed_registration(records, medledger.doctor_account, patient) for _ in range(65)]
        )
    with pytest.raises(InvalidChainInputError, match="got 0"):
        medledger.client.access_log.log_access_batch([])
    assert RELAYER_KEY  # the module relayer stays usable afterwards
    assert medledger.client.relayer.send_and_wait(to=patient, data=b"").status == 1


def test_bulk_registrations_through_send_many(medledger: Consortium2) -> None:
    records = medledger.client.records
    relayer = medledger.client.relayer
    batch = [
        signed_registration(records, medledger.doctor_account, Account.create().address)
        for _ in range(20)
    ]
    hashes = relayer.send_many(
        [(records.address, records.register_calldata(r, s)) for r, s in batch], gas=200_000
    )
    receipts = relayer.wait_many(hashes)
    assert all(r.status == 1 for r in receipts)
    assert all(records.is_active(r.id) for r, _ in batch)
