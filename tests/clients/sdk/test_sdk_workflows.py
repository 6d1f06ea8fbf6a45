"""Referrals and consultations through the SDK against the API over real HTTP (uvicorn, anvil).

The GP (qyqchc, general practice) refers the patient up to cd3h cardiology and asks cd3h for a
consultation; the patient signs the consents on their own client; every read is a real
download and decryption with the reader's attribute key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.sdk import MedLedgerClient
from clients.sdk.errors import ApiError, ClientError, NotAllowedError, NotFoundError
from clients.sdk.workflow_models import WorkflowConsents
from clients.sdk.workflows import consultation_audience, referral_audience
from crypto.signing import Purpose, recover
from ledger_api.services.consultations import audience_policy
from ledger_api.services.referrals import department_policy
from tests.clients.conftest import LiveStack

LETTER = json.dumps({"resourceType": "ServiceRequest", "status": "active"}).encode()
SUMMARY = b"Discharge summary: PCI of the LAD, stable; follow-up at the GP in 2 weeks.\n"
OPINION = b"Opinion: the ECG shows an old inferior infarct; echo advised.\n"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the client; the API's backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def client_for(live: LiveStack, name: str) -> MedLedgerClient:
    return MedLedgerClient(live.url, account=getattr(live.stack, name))


def test_audience_helpers_match_the_api() -> None:
    assert referral_audience("CD3H", "Cardiology") == department_policy("cd3h", "cardiology")
    assert consultation_audience(["pjxrmyy", "cd3h"], "role:doctor and dept:Cardiology") == (
        audience_policy(["cd3h", "pjxrmyy"], "role:doctor and dept:cardiology")
    )
    with pytest.raises(ClientError, match="invites institutions, a policy, or both"):
        consultation_audience([])


def test_referral_up_read_accept_arrive_complete_and_a_cancel(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    audience = referral_audience("cd3h", "cardiology")
    with (
        client_for(live_stack, "gp") as gp,
        client_for(live_stack, "patient") as patient,
        client_for(live_stack, "cardiologist") as cardiologist,
    ):
        letter = gp.share(
            LETTER, patient=stack.patient.address, policy=audience, record_type="ServiceRequest"
        )
        extra = gp.share(
            b"ECG trace", patient=stack.patient.address, policy=audience, record_type="ECG"
        )
        signed = patient.sign_workflow_consents(
            purpose="referral", audience_policy=audience,
            record_ids=[letter.record_id, extra.record_id],
        )  # fmt: skip
        # one consent per record, each signed by the patient, nonces rising
        assert len(signed.consents) == 2
        pairs = signed.signed()
        domain = patient.chain_info().domain
        assert all(recover(domain, c, s) == stack.patient.address for c, s in pairs)
        assert pairs[0][0].nonce < pairs[1][0].nonce
        assert all(c.purpose == Purpose.REFERRAL for c, _ in pairs)
        # the file form round-trips
        assert WorkflowConsents.from_json(json.loads(json.dumps(signed.to_json()))) == signed

        made = gp.create_referral(
            patient=stack.patient.address, to_institution="cd3h", department="cardiology",
            reason_record_id=letter.record_id, record_ids=[extra.record_id], consents=signed,
            urgency="urgent",
        )  # fmt: skip
        assert made.state == "requested"
        assert made.open
        assert made.audience_policy == audience
        assert made.requester == stack.gp.address
        assert set(made.record_ids) == {letter.record_id, extra.record_id}

        # the information arrives before the patient: the cardiologist reads the letter now
        incoming = cardiologist.referrals(direction="incoming", state="open")
        assert made.referral_id in [r.referral_id for r in incoming.items]
        key = cardiologist.reader_key()
        assert cardiologist.fetch_bytes(letter.record_id, user_key=key, purpose="referral") == (
            LETTER
        )
        assert cardiologist.accept_referral(made.referral_id).state == "accepted"
        assert cardiologist.arrive(made.referral_id).state == "arrived"
        summary = cardiologist.share_answer(
            SUMMARY, patient=stack.patient.address, reader=made.requester
        )
        done = cardiologist.complete_referral(made.referral_id, summary.record_id)
        assert done.state == "completed"
        assert not done.open
        assert done.summary_record_id == summary.record_id

        # the summary is shared back: the GP reads it with purpose referral
        gp_key = gp.reader_key()
        assert gp.fetch_bytes(summary.record_id, user_key=gp_key, purpose="referral") == SUMMARY
        # and the referral's grant ended with it
        with pytest.raises(NotAllowedError):
            cardiologist.fetch_bytes(letter.record_id, user_key=key, purpose="referral")

        shown = gp.referral(made.referral_id)
        assert [t.state for t in shown.history] == [
            "requested", "accepted", "arrived", "completed",
        ]  # fmt: skip
        assert all(t.tx_hash.startswith("0x") and len(t.tx_hash) == 66 for t in shown.history)
        assert shown.history[1].actor == stack.cardiologist.address

        # a second referral, cancelled by the GP before acceptance
        again = patient.sign_workflow_consents(
            purpose="referral", audience_policy=audience, record_ids=[letter.record_id]
        )
        second = gp.create_referral(
            patient=stack.patient.address, to_institution="cd3h", department="cardiology",
            reason_record_id=letter.record_id, consents=again,
        )  # fmt: skip
        with pytest.raises(NotAllowedError):  # only the requesting doctor cancels
            cardiologist.cancel_referral(second.referral_id, "no")
        cancelled = gp.cancel_referral(second.referral_id, "patient_declined")
        assert cancelled.state == "cancelled"
        assert cancelled.closing_reason == "patient_declined"
        with pytest.raises(ApiError) as illegal:
            cardiologist.accept_referral(second.referral_id)
        assert (illegal.value.status, illegal.value.code) == (409, "invalid_transition")
        assert gp.referral(second.referral_id).state == "cancelled"  # changed nothing
        with pytest.raises(NotFoundError):
            gp.referral("0x" + "ab" * 32)
        with pytest.raises(ClientError, match="referral_id"):
            gp.referral("../records")


def test_consultation_opinion_close_then_opinion_refused(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    audience = consultation_audience(["cd3h"])
    with (
        client_for(live_stack, "gp") as gp,
        client_for(live_stack, "patient") as patient,
        client_for(live_stack, "cardiologist") as cardiologist,
    ):
        question = gp.share(
            LETTER, patient=stack.patient.address, policy=audience, record_type="Question"
        )
        signed = patient.sign_workflow_consents(
            purpose="consultation", audience_policy=audience, record_ids=[question.record_id]
        )
        made = gp.create_consultation(
            patient=stack.patient.address, question_record_id=question.record_id,
            invited_institutions=["cd3h"], consents=signed,
        )  # fmt: skip
        assert made.state == "open"
        assert made.audience_policy == audience

        invited = cardiologist.consultations(state="open")
        assert [c.consultation_id for c in invited.items] == [made.consultation_id]
        key = cardiologist.reader_key()
        read = cardiologist.fetch_bytes(question.record_id, user_key=key, purpose="consultation")
        assert read == LETTER
        opinion = cardiologist.share_answer(
            OPINION, patient=stack.patient.address, reader=made.requester
        )
        answered = cardiologist.submit_opinion(made.consultation_id, opinion.record_id)
        assert answered.opinion_count == 1

        shown = gp.consultation(made.consultation_id)
        assert [o.author for o in shown.opinions] == [stack.cardiologist.address]
        assert shown.opinions[0].tx_hash.startswith("0x")
        gp_key = gp.reader_key()
        assert gp.fetch_bytes(opinion.record_id, user_key=gp_key, purpose="consultation") == (
            OPINION
        )
        patient_key = patient.reader_key()
        assert patient.fetch_bytes(opinion.record_id, user_key=patient_key) == OPINION

        conclusion = gp.share(
            b"Conclusion: echo booked.",
            patient=stack.patient.address,
            policy=f"uid:{stack.gp.address.lower()}",
            record_type="Note",
        )
        with pytest.raises(NotAllowedError):  # only the requester closes
            cardiologist.close_consultation(made.consultation_id, conclusion.record_id)
        closed = gp.close_consultation(made.consultation_id, conclusion.record_id)
        assert closed.state == "closed"
        assert closed.conclusion_record_id == conclusion.record_id

        late = cardiologist.share_answer(
            OPINION, patient=stack.patient.address, reader=made.requester
        )
        with pytest.raises(ApiError) as refused:
            cardiologist.submit_opinion(made.consultation_id, late.record_id)
        assert (refused.value.status, refused.value.code) == (409, "invalid_transition")
        assert gp.consultation(made.consultation_id).opinion_count == 1
        with pytest.raises(ApiError) as again:
            gp.cancel_consultation(made.consultation_id, "late")
        assert again.value.code == "invalid_transition"


def test_each_step_is_signed_here_and_the_summary_is_the_completing_doctors(
    live_stack: LiveStack,
) -> None:
    """The SDK signs as its own account (the chain names it as the actor of every step), and
    the API refuses a summary the completing doctor did not write after the acceptance."""
    stack = live_stack.stack
    audience = referral_audience("cd3h", "cardiology")
    with (
        client_for(live_stack, "gp") as gp,
        client_for(live_stack, "patient") as patient,
        client_for(live_stack, "cardiologist") as cardiologist,
    ):
        letter = gp.share(
            LETTER, patient=stack.patient.address, policy=audience, record_type="ServiceRequest"
        )
        signed = patient.sign_workflow_consents(
            purpose="referral", audience_policy=audience, record_ids=[letter.record_id]
        )
        with pytest.raises(ClientError, match="no institution with code"):
            gp.create_referral(
                patient=stack.patient.address, to_institution="nowhere", department="cardiology",
                reason_record_id=letter.record_id, consents=signed,
            )  # fmt: skip
        made = gp.create_referral(
            patient=stack.patient.address, to_institution=stack.cd3h, department="Cardiology",
            reason_record_id=letter.record_id, consents=signed,
        )  # fmt: skip
        early = cardiologist.share_answer(
            SUMMARY, patient=stack.patient.address, reader=made.requester
        )
        by_gp = gp.share(
            SUMMARY, patient=stack.patient.address, policy=audience, record_type="Note"
        )
        stack.w3.provider.make_request("evm_increaseTime", [2])  # the acceptance comes later
        stack.w3.provider.make_request("evm_mine", [])
        cardiologist.accept_referral(made.referral_id)
        with pytest.raises(ClientError, match="reason"):
            cardiologist.reject_referral(made.referral_id, "x" * 33)  # refused before sending
        for summary, code in ((early, "summary_before_acceptance"), (by_gp, "summary_not_yours")):
            with pytest.raises(ApiError) as refused:
                cardiologist.complete_referral(made.referral_id, summary.record_id)
            assert (refused.value.status, refused.value.code) == (422, code)
        written = cardiologist.share_answer(
            SUMMARY, patient=stack.patient.address, reader=made.requester
        )
        done = cardiologist.complete_referral(made.referral_id, written.record_id)
        assert done.summary_record_id == written.record_id
        assert [(t.state, t.actor) for t in gp.referral(made.referral_id).history] == [
            ("requested", stack.gp.address),
            ("accepted", stack.cardiologist.address),
            ("completed", stack.cardiologist.address),
        ]
