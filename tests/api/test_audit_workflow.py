"""``/audit/verify`` over ``Workflow``, ``EmergencyAccess`` and ``Consortium``: each kind of
index row, tampered as an attacker with database access would, is named; and reads justified
by a referral, a consultation or a break-glass opening are checked against them.

The chain state is made with the chain wrappers and each actor's signature
(:mod:`tests.api.audit_support`), the index by the API's own indexer.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from crypto.signing import Purpose
from ledger_api.services.access import Reason
from storage.models import (
    Consultation,
    ConsultationInvitation,
    ConsultationOpinion,
    Institution,
    Member,
    MemberAttribute,
    Referral,
    WorkflowTransition,
)
from storage.models.emergency import BreakGlassEvent
from tests.api.audit_support import (
    REASON,
    entry,
    log_entries,
    make_workflows,
    upload,
    verify,
)
from tests.api.conftest import Stack


def test_a_clean_history_of_every_kind_verifies(api_stack: Stack) -> None:
    s = api_stack
    w = make_workflows(s)
    with s.ctx.sessions.begin() as db:  # the API fills the reason text in; it must hash right
        db.get(BreakGlassEvent, w.opening).reason = REASON  # type: ignore[union-attr]
    report = verify(s)
    assert report["ok"] is True, report
    checked = report["checked"]
    assert (checked["referrals"], checked["consultations"], checked["opinions"]) == (2, 1, 1)
    # requested, accepted, arrived, completed; requested, rejected; requested, closed
    assert checked["workflow_transitions"] == 8
    assert checked["break_glass_openings"] == 1
    assert (checked["institutions"], checked["members"]) == (2, 4)


def test_each_tampered_row_of_the_new_kinds_is_named(api_stack: Stack) -> None:
    s = api_stack
    w = make_workflows(s)
    fabricated = "0x" + os.urandom(32).hex()
    with s.ctx.sessions.begin() as db:
        done = db.get(Referral, w.referral)
        assert done is not None
        assert done.state == "completed"
        done.state = "arrived"  # hides the completion
        rejected = db.get(Referral, w.rejected)
        assert rejected is not None
        rejected.closing_reason = "0x" + "ee" * 32
        db.add(  # a referral nobody made, dated inside the range
            Referral(
                **{
                    c: getattr(done, c)
                    for c in (
                        "patient",
                        "from_institution",
                        "to_institution",
                        "requester",
                        "state",
                        "created_at",
                        "updated_at",
                        "tx_hash",
                        "block_number",
                        "updated_block",
                    )
                },
                referral_id=fabricated,
                updated_log_index=99,
            )
        )
        consultation = db.get(Consultation, w.consultation)
        assert consultation is not None
        consultation.conclusion_hash = "0x" + "ab" * 32
        db.execute(
            sa.delete(ConsultationInvitation).where(
                ConsultationInvitation.consultation_id == w.consultation
            )
        )
        accepted = db.scalars(
            sa.select(WorkflowTransition).where(WorkflowTransition.event == "ReferralAccepted")
        ).one()
        accepted.actor = s.cardiologist.address.lower()  # the wrong institution accepting
        arrived = db.scalars(
            sa.select(WorkflowTransition).where(WorkflowTransition.event == "ReferralArrived")
        ).one()
        arrived_key = f"{arrived.tx_hash}:{arrived.log_index}"
        accepted_key = f"{accepted.tx_hash}:{accepted.log_index}"
        db.delete(arrived)
        opinion = db.scalars(sa.select(ConsultationOpinion)).one()
        opinion.opinion_hash = "0x" + "cd" * 32
        opinion_key = f"{opinion.tx_hash}:{opinion.log_index}"
        opening = db.get(BreakGlassEvent, w.opening)
        assert opening is not None
        opening.clinician = s.gp.address.lower()
        opening.justified = False
        opening.reason = "routine check"  # not the reason the chain hashed
        institution = db.get(Institution, s.cd3h)
        assert institution is not None
        institution.name = "某某医院"
        gp = db.get(Member, s.gp.address.lower())
        assert gp is not None
        gp.role = "auditor"
        db.add(MemberAttribute(address=s.cardiologist.address.lower(), attribute="dept:icu"))
    report = verify(s)
    assert report["ok"] is False
    found = {(p["kind"], p["key"], p["problem"], p.get("field")) for p in report["index_vs_chain"]}
    assert found == {
        ("referral", w.referral, "field_mismatch", "state"),
        ("referral", w.rejected, "field_mismatch", "closing_reason"),
        ("referral", fabricated, "not_on_chain", None),
        ("referral", fabricated, "state_not_on_chain", "last_event"),
        ("consultation", w.consultation, "field_mismatch", "conclusion_hash"),
        ("consultation", w.consultation, "field_mismatch", "invited"),
        ("workflow_transition", accepted_key, "field_mismatch", "actor"),
        ("workflow_transition", arrived_key, "missing_in_index", None),
        ("opinion", opinion_key, "field_mismatch", "opinion_hash"),
        ("break_glass", w.opening, "field_mismatch", "clinician"),
        ("break_glass", w.opening, "field_mismatch", "justified"),
        ("break_glass", w.opening, "field_mismatch", "reason_text"),
        ("institution", s.cd3h, "field_mismatch", "name"),
        ("member", s.gp.address.lower(), "field_mismatch", "role"),
        ("member", s.cardiologist.address.lower(), "field_mismatch", "attributes"),
    }
    by_field = {(p["key"], p.get("field")): p for p in report["index_vs_chain"]}
    assert by_field[(w.referral, "state")]["chain"] == "completed"
    assert by_field[(w.opening, "clinician")]["chain"] == s.cardiologist.address.lower()
    assert by_field[(s.cd3h, "name")]["index"] == "某某医院"
    assert "dept:icu" in by_field[(s.cardiologist.address.lower(), "attributes")]["index"]
    assert report["read_signatures"] == []
    assert report["justifications"] == []


def test_a_row_that_missed_a_later_event_is_named(api_stack: Stack) -> None:
    """A row left at an older state (its position before the chain's last event of it)."""
    s = api_stack
    w = make_workflows(s)
    with s.ctx.sessions.begin() as db:
        row = db.get(Referral, w.referral)
        assert row is not None
        accepted = db.scalars(
            sa.select(WorkflowTransition).where(WorkflowTransition.event == "ReferralAccepted")
        ).one()
        row.state, row.summary_record_id = "accepted", None
        row.updated_block, row.updated_log_index = accepted.block_number, accepted.log_index
        row.updated_at = accepted.block_time  # exactly the row as it stood after acceptance
    (problem,) = verify(s)["index_vs_chain"]
    assert (problem["key"], problem["problem"], problem["event"]) == (
        w.referral,
        "missed_event",
        "ReferralCompleted",
    )


def test_reads_justified_by_workflows_and_openings(api_stack: Stack) -> None:
    s = api_stack
    w = make_workflows(s)
    other = upload(s, s.cardiologist, s.other_patient)
    referral, opening = bytes.fromhex(w.referral[2:]), bytes.fromhex(w.opening[2:])
    consultation = bytes.fromhex(w.consultation[2:])
    workflow, emergency = int(Reason.WORKFLOW), int(Reason.BREAK_GLASS)
    entries = [
        # sound: the referral's receiving GP, the consultation's invitee, the opener
        entry(s, s.gp, w.record, reason=workflow, justification=referral, purpose=Purpose.REFERRAL),
        entry(
            s,
            s.gp,
            w.record,
            reason=workflow,
            justification=consultation,
            purpose=Purpose.CONSULTATION,
        ),
        entry(
            s,
            s.cardiologist,
            w.record,
            reason=emergency,
            justification=opening,
            purpose=Purpose.EMERGENCY,
        ),
        # unsound: a referral cited for a consultation read
        entry(
            s, s.gp, w.record, reason=workflow, justification=referral, purpose=Purpose.CONSULTATION
        ),
        # another reader riding on the cardiologist's opening
        entry(
            s, s.gp, w.record, reason=emergency, justification=opening, purpose=Purpose.EMERGENCY
        ),
        # an opening id cited as a workflow
        entry(s, s.gp, w.record, reason=workflow, justification=opening, purpose=Purpose.REFERRAL),
        # the referral of one patient cited for another patient's record
        entry(s, s.gp, other, reason=workflow, justification=referral, purpose=Purpose.REFERRAL),
    ]
    mined = log_entries(s, entries)
    logged = [e for e in mined.events if e.name == "AccessLogged"]
    report = verify(s)
    assert report["read_signatures"] == []
    assert report["index_vs_chain"] == []
    found = {(p["log_index"], p["problem"], p.get("field")) for p in report["justifications"]}
    assert found == {
        (logged[3].log_index, "justification_mismatch", "purpose"),
        (logged[4].log_index, "justification_mismatch", "clinician"),
        (logged[5].log_index, "justification_unknown", None),
        (logged[6].log_index, "justification_mismatch", "patient"),
    }
    assert all(p["tx_hash"] == mined.receipt.tx_hash for p in report["justifications"])
