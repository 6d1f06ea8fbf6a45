"""Workflow and EmergencyAccess through their wrappers: every step a signed message."""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from crypto.signing import (
    BreakGlassCosign,
    BreakGlassOpen,
    BreakGlassReview,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    ReferralRequest,
    ReferralStep,
)
from ledger_api.chain.consortium import Role
from ledger_api.chain.emergency import EmergencyAccess, text_hash
from ledger_api.chain.errors import InvalidChainInputError, TransactionRevertedError
from ledger_api.chain.relayer import Relayer
from ledger_api.chain.workflow import ConsultationStatus, ReferralStatus
from tests.chain.conftest import Consortium2
from tests.chain.signed import deadline, signed_registration
from tests.conftest import ANVIL_KEYS


def test_referral_walks_its_states(medledger: Consortium2) -> None:
    client = medledger.client
    workflow = client.workflow
    w3 = client.w3
    patient = Account.create().address
    record, signature = signed_registration(client.records, medledger.doctor_account, patient)
    client.records.register(record, signature).wait()
    referral_id = os.urandom(32)
    request = ReferralRequest(
        referral_id=referral_id,
        patient=patient,
        to_institution=medledger.county,
        record_id=record.id,
        deadline=deadline(w3),
    )
    assert workflow.hash_struct(request) == request.struct_hash()
    requested = workflow.request_referral(
        request, workflow.sign_as(medledger.doctor_account, request)
    ).wait()
    assert requested.event("ReferralRequested").args["requester"] == medledger.doctor
    assert workflow.referral_of(referral_id).status is ReferralStatus.REQUESTED

    accept = ReferralStep.accept(referral_id, deadline=deadline(w3))
    assert workflow.hash_struct(accept) == accept.struct_hash()
    with pytest.raises(TransactionRevertedError) as caught:  # the sender may not accept
        workflow.step_referral(accept, workflow.sign_as(medledger.doctor_account, accept))
    assert caught.value.error_name == "WorkflowUnauthorized"
    with pytest.raises(TransactionRevertedError) as relayed:  # nor the relayer on its own
        workflow.step_referral(accept, b"")
    assert relayed.value.error_name == "WorkflowUnauthorized"
    workflow.step_referral(accept, workflow.sign_as(medledger.county_doctor_account, accept)).wait()
    accepted_at = workflow.referral_of(referral_id).accepted_at
    assert accepted_at == w3.eth.get_block("latest")["timestamp"]
    arrive = ReferralStep.arrive(referral_id, deadline=deadline(w3))
    workflow.step_referral(arrive, workflow.sign_as(medledger.county_doctor_account, arrive)).wait()
    assert workflow.referral_of(referral_id).status is ReferralStatus.ARRIVED

    # The summary must come from the receiving institution, written after acceptance.
    wrong = ReferralStep.complete(referral_id, record.id, deadline=deadline(w3))
    with pytest.raises(TransactionRevertedError) as invalid:
        workflow.step_referral(wrong, workflow.sign_as(medledger.county_doctor_account, wrong))
    assert invalid.value.error_name == "WorkflowInvalidSummary"
    summary, summary_sig = signed_registration(
        client.records, medledger.county_doctor_account, patient
    )
    client.records.register(summary, summary_sig).wait()
    complete = ReferralStep.complete(referral_id, summary.id, deadline=deadline(w3))
    done = workflow.step_referral(
        complete, workflow.sign_as(medledger.county_doctor_account, complete)
    ).wait()
    assert done.event("ReferralCompleted").args["summaryRecordId"] == summary.id
    assert workflow.referral_of(referral_id).status is ReferralStatus.COMPLETED


def test_consultation_opinion_and_close(medledger: Consortium2) -> None:
    workflow = medledger.client.workflow
    w3 = medledger.client.w3
    patient = Account.create().address
    consultation_id = os.urandom(32)
    empty = ConsultationRequest(
        consultation_id=consultation_id,
        patient=patient,
        closes_at=deadline(w3),
        deadline=deadline(w3),
    )
    with pytest.raises(InvalidChainInputError, match="or none with a policy hash"):
        workflow.request_consultation(empty, workflow.sign_as(medledger.doctor_account, empty))
    request = ConsultationRequest(
        consultation_id=consultation_id,
        patient=patient,
        invited_institutions=(medledger.county,),
        closes_at=deadline(w3),
        deadline=deadline(w3),
    )
    assert workflow.hash_struct(request) == request.struct_hash()
    opened = workflow.request_consultation(
        request, workflow.sign_as(medledger.doctor_account, request)
    ).wait()
    assert opened.event("ConsultationRequested").args["invitedInstitutions"] == [medledger.county]
    assert workflow.is_invited(consultation_id, medledger.county)
    opinion = ConsultationOpinion(
        consultation_id=consultation_id,
        opinion_cid="bafkreiopinion",
        opinion_hash=os.urandom(32),
        deadline=deadline(w3),
    )
    assert workflow.hash_struct(opinion) == opinion.struct_hash()
    signature = workflow.sign_as(medledger.county_doctor_account, opinion)
    workflow.submit_opinion(opinion, signature).wait()
    assert workflow.has_opined(consultation_id, medledger.county_doctor)
    with pytest.raises(TransactionRevertedError) as caught:  # replayed
        workflow.submit_opinion(opinion, signature)
    assert caught.value.error_name == "WorkflowAlreadyOpined"
    close = ConsultationClose(
        consultation_id=consultation_id,
        conclusion_cid="bafkreiconclusion",
        conclusion_hash=os.urandom(32),
        deadline=deadline(w3),
    )
    closed = workflow.close_consultation(
        close, workflow.sign_as(medledger.doctor_account, close)
    ).wait()
    assert closed.event("ConsultationClosed").args["opinionCount"] == 1
    info = workflow.consultation_of(consultation_id)
    assert (info.status, info.opinion_count, info.requester) == (
        ConsultationStatus.CLOSED,
        1,
        medledger.doctor,
    )


def test_break_glass_open_cosign_review_and_cap(medledger: Consortium2) -> None:
    client = medledger.client
    w3 = client.w3
    emergency = client.emergency
    patient = Account.create().address
    auditor = Account.from_key(ANVIL_KEYS[7])
    medledger.admin.enrol_member(
        account=auditor.address, institution_id=medledger.hospital, role=Role.AUDITOR
    ).wait()
    admin_key = ANVIL_KEYS[0]
    as_admin = EmergencyAccess(w3, emergency.address, sender=Relayer(w3, admin_key))
    assert emergency.daily_cap() == 3
    changed = as_admin.set_daily_cap(0).wait()
    assert changed.event("DailyCapChanged").args == {"previousCap": 3, "newCap": 0}

    reason = text_hash("unconscious, no relative reachable")
    opening = BreakGlassOpen(
        id=os.urandom(32), patient=patient, reason_hash=reason, window=3600, deadline=deadline(w3)
    )
    assert emergency.hash_struct(opening) == opening.struct_hash()
    signature = emergency.sign_as(medledger.doctor_account, opening)
    with pytest.raises(TransactionRevertedError) as capped:
        emergency.open_break_glass(opening, signature)
    assert capped.value.error_name == "EmergencyAccessCapReached"

    cosign = BreakGlassCosign(
        opening_id=opening.id,
        clinician=medledger.doctor,
        patient=patient,
        reason_hash=reason,
        deadline=deadline(w3, 600),
    )
    assert emergency.hash_struct(cosign) == cosign.struct_hash()
    cosignature = emergency.sign_as(medledger.county_doctor_account, cosign)
    other = BreakGlassOpen(
        id=os.urandom(32), patient=patient, reason_hash=reason, window=3600, deadline=deadline(w3)
    )
    with pytest.raises(InvalidChainInputError, match="another opening"):
        emergency.open_break_glass(other, signature, cosign=cosign, cosignature=cosignature)
    opened = emergency.open_break_glass(
        opening, signature, cosign=cosign, cosignature=cosignature
    ).wait()
    assert opened.event("BreakGlassOpened").args["coSigner"] == medledger.county_doctor
    assert emergency.is_open(opening.id)

    review = BreakGlassReview(
        id=opening.id, justified=True, note_hash=text_hash("ok"), deadline=deadline(w3)
    )
    assert emergency.hash_struct(review) == review.struct_hash()
    reviewed = emergency.review(review, emergency.sign_as(auditor, review)).wait()
    assert reviewed.event("BreakGlassReviewed").args["auditor"] == auditor.address
    assert emergency.opening_of(opening.id).justified
    as_admin.set_daily_cap(3).wait()
