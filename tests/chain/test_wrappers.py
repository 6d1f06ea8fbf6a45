"""The typed wrappers against the real contracts on a real anvil."""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from crypto.signing import Consent, Purpose, Revocation, consent_id, sign
from ledger_api.chain.access_log import AccessEntry
from ledger_api.chain.connection import rpc
from ledger_api.chain.consortium import Role
from ledger_api.chain.contract import event_decoder
from ledger_api.chain.errors import InvalidChainInputError, TransactionRevertedError
from ledger_api.chain.records import RecordInput, RecordStatus
from ledger_api.chain.relayer import Relayer
from ledger_api.chain.workflow import ConsultationStatus, ReferralStatus
from tests.chain.conftest import RELAYER_KEY, Consortium2
from tests.conftest import ANVIL_KEYS


def _record(author_: str, patient_: str, **overrides: object) -> RecordInput:
    fields: dict[str, object] = {
        "id": os.urandom(32),
        "patient": patient_,
        "author": author_,
        "body_cid": "bafkreibody",
        "header_cid": "bafkreiheader",
        "body_hash": os.urandom(32),
        "policy_hash": os.urandom(32),
        "record_type": b"fhir:Observation".ljust(32, b"\x00"),
    }
    fields.update(overrides)
    return RecordInput(**fields)  # type: ignore[arg-type]


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
    assert consortium.attributes_of(medledger.doctor) == [
        "role:doctor",
        "org:cd3h",
        "dept:cardiology",
    ]
    assert consortium.has_attribute(medledger.doctor, "dept:cardiology")
    assert consortium.is_relayer(medledger.client.relayer.address)

    nurse = Account.create().address
    admin = medledger.admin
    enrolled = admin.enrol_member(
        account=nurse, institution_id=medledger.county, role=Role.NURSE, attributes=["role:nurse"]
    ).wait()
    assert enrolled.event("MemberEnrolled").args["account"] == nurse
    admin.suspend_member(account=nurse).wait()
    assert not consortium.is_member(nurse)
    admin.reinstate_member(account=nurse).wait()
    assert consortium.is_member(nurse)
    admin.update_member(account=nurse, role=Role.DOCTOR, attributes=["role:doctor"]).wait()
    assert consortium.role_of(nurse) is Role.DOCTOR
    admin.remove_member(account=nurse).wait()
    assert consortium.role_of(nurse) is Role.NONE
    assert consortium.institution_of(nurse) == 0


def test_non_admin_is_refused_by_name(medledger: Consortium2) -> None:
    # The relayer is no consortium admin: gas estimation already reverts, nothing is sent.
    nonce = medledger.client.relayer.pending_nonce()
    with pytest.raises(TransactionRevertedError) as caught:
        medledger.client.consortium.add_institution(
            name="x", code="x", admin=medledger.doctor
        ).wait()
    assert caught.value.error_name == "ConsortiumUnauthorized"
    assert caught.value.error_args == {"caller": medledger.client.relayer.address}
    assert caught.value.tx_hash is None
    assert medledger.client.relayer.pending_nonce() == nonce


def test_register_one_and_batch_then_views_and_events(medledger: Consortium2) -> None:
    records = medledger.client.records
    patient = Account.create().address
    one = _record(medledger.doctor, patient)
    mined = records.register(one).wait()
    event = mined.event("RecordRegistered")
    assert event.args["id"] == one.id
    assert event.args["patient"] == patient
    assert event.args["authorInstitution"] == medledger.hospital
    assert event.args["bodyCid"] == "bafkreibody"
    info = records.record_of(one.id)
    assert (info.patient, info.status, info.version) == (patient, RecordStatus.ACTIVE, 1)

    batch = [_record(medledger.doctor, patient) for _ in range(5)]
    mined = records.register_batch(batch).wait()
    ids = [e.args["id"] for e in mined.events if e.name == "RecordRegistered"]
    assert ids == [r.id for r in batch]
    assert all(records.is_active(r.id) for r in batch)
    assert records.patient_of(batch[0].id) == patient

    # The same events come back from eth_getLogs, decoded the same way.
    logs = rpc(
        medledger.client.w3,
        "eth_getLogs",
        [{"fromBlock": hex(mined.block_number), "toBlock": hex(mined.block_number)}],
    )
    decoded = [event_decoder().decode(log) for log in logs]
    assert [e.args["id"] for e in decoded if e] == ids


def test_duplicate_record_reverts_with_decoded_custom_error(medledger: Consortium2) -> None:
    records = medledger.client.records
    record = _record(medledger.doctor, Account.create().address)
    records.register(record).wait()
    with pytest.raises(TransactionRevertedError) as before_send:
        records.register(record)
    assert before_send.value.error_name == "RecordRegistryDuplicateId"
    assert before_send.value.error_args == {"id": record.id}
    assert before_send.value.tx_hash is None

    # With a fixed gas limit there is no estimate: the transaction is mined, fails, and the
    # relayer replays it to name the error.
    pending = records.register(record, gas=500_000)
    with pytest.raises(TransactionRevertedError) as mined:
        pending.wait()
    assert mined.value.error_name == "RecordRegistryDuplicateId"
    assert mined.value.error_args == {"id": record.id}
    assert mined.value.tx_hash == pending.tx_hash


def test_rekey_and_withdraw(medledger: Consortium2) -> None:
    records = medledger.client.records
    patient = Account.create().address
    record = _record(medledger.doctor, patient)
    records.register(record).wait()
    new_policy = os.urandom(32)
    mined = records.rekey(
        actor=patient, record_id=record.id, header_cid="bafkreinewheader", policy_hash=new_policy
    ).wait()
    assert mined.event("RecordRekeyed").args["version"] == 2
    assert records.record_of(record.id).version == 2
    with pytest.raises(TransactionRevertedError) as caught:
        records.withdraw(actor=medledger.county_doctor, record_id=record.id)
    assert caught.value.error_name == "RecordRegistryUnauthorized"
    records.withdraw(actor=medledger.doctor, record_id=record.id, reason_code=3).wait()
    assert records.record_of(record.id).status is RecordStatus.WITHDRAWN


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
    consents.revoke_by_sig(consent, revocation, sign(consents.domain(), revocation, patient.key))
    assert consents.wait_is_revoked if False else True
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


def test_access_log_one_and_batch(medledger: Consortium2) -> None:
    log = medledger.client.access_log
    record_id = os.urandom(32)
    mined = log.log_access(
        AccessEntry(record_id=record_id, accessor=medledger.doctor, purpose=0, granted=True)
    ).wait()
    assert mined.event("AccessLogged").args == {
        "recordId": record_id,
        "accessor": medledger.doctor,
        "purpose": 0,
        "granted": True,
        "reasonCode": 0,
    }
    entries = [
        AccessEntry(
            record_id=os.urandom(32),
            accessor=medledger.county_doctor,
            purpose=Purpose.CONSULTATION,
            granted=i % 2 == 0,
            reason_code=i,
        )
        for i in range(10)
    ]
    mined = log.log_access_batch(entries).wait()
    logged = [e.args for e in mined.events if e.name == "AccessLogged"]
    assert [(a["recordId"], a["granted"], a["reasonCode"]) for a in logged] == [
        (e.record_id, e.granted, e.reason_code) for e in entries
    ]


def test_access_log_refuses_anyone_but_the_relayer(medledger: Consortium2) -> None:
    from ledger_api.chain.access_log import AccessLog

    outsider = AccessLog(
        medledger.client.w3,
        medledger.client.access_log.address,
        sender=Relayer(medledger.client.w3, ANVIL_KEYS[5]),
    )
    entry = AccessEntry(
        record_id=os.urandom(32), accessor=medledger.doctor, purpose=0, granted=False
    )
    with pytest.raises(TransactionRevertedError) as caught:
        outsider.log_access(entry)
    assert caught.value.error_name == "AccessLogUnauthorized"


def test_referral_walks_its_states(medledger: Consortium2) -> None:
    client = medledger.client
    patient = Account.create().address
    record = _record(medledger.doctor, patient)
    client.records.register(record).wait()
    referral_id = os.urandom(32)
    client.workflow.request_referral(
        actor=medledger.doctor,
        referral_id=referral_id,
        patient=patient,
        to_institution=medledger.county,
        record_id=record.id,
    ).wait()
    assert client.workflow.referral_of(referral_id).status is ReferralStatus.REQUESTED
    with pytest.raises(TransactionRevertedError) as caught:
        client.workflow.accept_referral(actor=medledger.doctor, referral_id=referral_id)
    assert caught.value.error_name == "WorkflowUnauthorized"
    client.workflow.accept_referral(actor=medledger.county_doctor, referral_id=referral_id).wait()
    client.workflow.mark_arrived(actor=medledger.county_doctor, referral_id=referral_id).wait()
    assert client.workflow.referral_of(referral_id).status is ReferralStatus.ARRIVED


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"id": b"\x01" * 31}, "id must be 32 bytes, got 31"),
        ({"author": "0x1234"}, "author must be a 20-byte hex address"),
        ({"body_cid": ""}, "body_cid must be a non-empty string"),
        ({"policy_hash": "0xzz"}, "policy_hash is not hex"),
    ],
)
def test_malformed_input_is_refused_before_sending(
    medledger: Consortium2, overrides: dict[str, object], message: str
) -> None:
    nonce = medledger.client.relayer.pending_nonce()
    with pytest.raises(InvalidChainInputError, match=message):
        medledger.client.records.register(
            _record(medledger.doctor, Account.create().address, **overrides)
        )
    assert medledger.client.relayer.pending_nonce() == nonce


def test_batch_bounds_are_checked_locally(medledger: Consortium2) -> None:
    patient = Account.create().address
    with pytest.raises(InvalidChainInputError, match="1 to 64 entries, got 65"):
        medledger.client.records.register_batch(
            [_record(medledger.doctor, patient) for _ in range(65)]
        )
    with pytest.raises(InvalidChainInputError, match="got 0"):
        medledger.client.access_log.log_access_batch([])
    assert RELAYER_KEY  # the module relayer stays usable afterwards
    assert medledger.client.relayer.send_and_wait(to=patient, data=b"").status == 1


def test_consultation_opinion_and_close(medledger: Consortium2) -> None:
    workflow = medledger.client.workflow
    patient = Account.create().address
    consultation_id = os.urandom(32)
    now = medledger.client.w3.eth.get_block("latest")["timestamp"]
    with pytest.raises(InvalidChainInputError, match="or none with a policy hash"):
        workflow.request_consultation(
            actor=medledger.doctor,
            consultation_id=consultation_id,
            patient=patient,
            record_id=bytes(32),
            invited_institutions=[],
            policy_hash=bytes(32),
            deadline=now + 3600,
        )
    opened = workflow.request_consultation(
        actor=medledger.doctor,
        consultation_id=consultation_id,
        patient=patient,
        record_id=bytes(32),
        invited_institutions=[medledger.county],
        policy_hash=bytes(32),
        deadline=now + 3600,
    ).wait()
    assert opened.event("ConsultationRequested").args["invitedInstitutions"] == [medledger.county]
    assert workflow.is_invited(consultation_id, medledger.county)
    workflow.submit_opinion(
        actor=medledger.county_doctor,
        consultation_id=consultation_id,
        opinion_cid="bafkreiopinion",
        opinion_hash=os.urandom(32),
    ).wait()
    assert workflow.has_opined(consultation_id, medledger.county_doctor)
    with pytest.raises(TransactionRevertedError) as caught:
        workflow.submit_opinion(
            actor=medledger.county_doctor,
            consultation_id=consultation_id,
            opinion_cid="bafkreiagain",
            opinion_hash=os.urandom(32),
        )
    assert caught.value.error_name == "WorkflowAlreadyOpined"
    closed = workflow.close_consultation(
        actor=medledger.doctor,
        consultation_id=consultation_id,
        conclusion_cid="bafkreiconclusion",
        conclusion_hash=os.urandom(32),
    ).wait()
    assert closed.event("ConsultationClosed").args["opinionCount"] == 1
    info = workflow.consultation_of(consultation_id)
    assert (info.status, info.opinion_count, info.requester) == (
        ConsultationStatus.CLOSED,
        1,
        medledger.doctor,
    )


def test_bulk_registrations_through_send_many(medledger: Consortium2) -> None:
    records = medledger.client.records
    relayer = medledger.client.relayer
    batch = [_record(medledger.doctor, Account.create().address) for _ in range(20)]
    hashes = relayer.send_many(
        [(records.address, records.register_calldata(r)) for r in batch], gas=200_000
    )
    receipts = relayer.wait_many(hashes)
    assert all(r.status == 1 for r in receipts)
    assert all(records.is_active(r.id) for r in batch)
