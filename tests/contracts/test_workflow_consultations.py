"""Workflow consultations: request, opinions, close and cancel, each signed by its actor;
invited institutions, policy opinions attested by a relayer, closing time, replay."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak

from tests.contracts.helpers import Chain, args, b32, cid_for, rid
from tests.contracts.workflow_calls import (
    C_CANCELLED,
    CLOSED,
    ZERO,
    ZERO32,
    cancel,
    close,
    consult,
    consultation,
    opinion,
    record,
    signed,
    wf,
)


def test_struct_hashes_match_python(chain: Chain) -> None:
    messages = [
        consultation(chain, rid("h"), invited=(1, 2, 2**32 - 1), policy=b32("p"), closes_at=9),
        consultation(chain, rid("h"), invited=()),
        opinion(rid("h"), cid_for("o"), b32("d")),
        close(rid("h"), "", ZERO32),
        cancel(rid("h"), b32("r")),
    ]
    for m in messages:
        assert getattr(wf(chain), "hash" + m.primary_type())(args(m)).call() == m.struct_hash()


def test_consultation_full_path(chain: Chain) -> None:
    closes_at = chain.now() + 7200
    policy = keccak(text="dept:cardio and title:attending")
    chart = record(chain, "chart")
    con_id = keccak(text="consultation:full")
    m = consultation(
        chain, con_id, record_id=chart, invited=(2,), policy=policy, closes_at=closes_at
    )
    receipt = chain.send("relayer", signed(chain, m, "doctor_a"))
    assert chain.one_event("Workflow", "ConsultationRequested", receipt) == {
        "consultationId": con_id,
        "patient": chain.addr("patient"),
        "requesterInstitution": 1,
        "requester": chain.addr("doctor_a"),
        "recordId": chart,
        "policyHash": policy,
        "deadline": closes_at,
        "invitedInstitutions": [2],
    }
    assert wf(chain).isInvited(con_id, 2).call() is True
    assert wf(chain).isInvited(con_id, 1).call() is False
    op = opinion(con_id, cid_for("opinion b"), b32("h1"))
    receipt = chain.send("relayer", signed(chain, op, "doctor_b"))
    assert chain.one_event("Workflow", "ConsultationOpinionSubmitted", receipt) == {
        "consultationId": con_id,
        "author": chain.addr("doctor_b"),
        "institutionId": 2,
        "opinionCid": op.opinion_cid,
        "opinionHash": b32("h1"),
    }
    assert wf(chain).hasOpined(con_id, chain.addr("doctor_b")).call() is True
    # via the policy: a relayer attests doctor_a2's attributes satisfy it; doctor_a2 signs
    chain.send("relayer", signed(chain, opinion(con_id, cid_for("o2"), b32("h2")), "doctor_a2"))
    conclusion = close(con_id, cid_for("conclusion"), b32("c"))
    receipt = chain.send("doctor_a", signed(chain, conclusion, None))  # direct, unsigned
    assert chain.one_event("Workflow", "ConsultationClosed", receipt) == {
        "consultationId": con_id,
        "actor": chain.addr("doctor_a"),
        "conclusionCid": conclusion.conclusion_cid,
        "conclusionHash": b32("c"),
        "opinionCount": 2,
    }
    assert wf(chain).consultationOf(con_id).call() == [
        chain.addr("patient"),
        1,
        CLOSED,
        closes_at,
        2,
        chain.addr("doctor_a"),
        chart,
        policy,
    ]
    late = opinion(con_id, cid_for("late"), b32("late"))
    chain.reverts(
        "relayer",
        signed(chain, late, "nurse_a"),
        "WorkflowInvalidTransition",
        status=CLOSED,
    )


def test_request_consultation_reverts(chain: Chain) -> None:
    taken = consult(chain, "taken")
    new = keccak(text="new")

    def fails(error: str, message_changes: dict[str, object], **expected: object) -> None:
        m = dataclasses.replace(consultation(chain, new), **message_changes)  # type: ignore[arg-type]
        chain.reverts("relayer", signed(chain, m, "doctor_a"), error, **expected)

    fails("WorkflowDuplicateId", {"consultation_id": taken})
    fails("WorkflowDuplicateId", {"consultation_id": ZERO32})
    fails("WorkflowInvalidPatient", {"patient": ZERO})
    now = chain.now()
    for bad in (now, now - 5, 2**40):
        fails("WorkflowInvalidDeadline", {"closes_at": bad}, deadline=bad)
    fails("WorkflowInvalidInvitees", {"invited_institutions": ()}, count=0, max=16)
    fails("WorkflowInvalidInvitees", {"invited_institutions": (2,) * 17}, count=17)
    for inst in (0, 3):
        fails("WorkflowInvalidInstitution", {"invited_institutions": (2, inst)}, institutionId=inst)
    fails("WorkflowInvalidRecord", {"record_id": rid("nope")})
    # a policy alone is enough; sixteen institutions are fine
    alone = consultation(chain, new, invited=(), policy=b32("p"))
    chain.send("relayer", signed(chain, alone, "doctor_a"))
    sixteen = consultation(chain, keccak(text="16"), invited=(1, 2) * 8)
    chain.send("relayer", signed(chain, sixteen, "doctor_a"))


@pytest.mark.parametrize("who", ["nurse_a", "auditor_a", "patient", "relayer"])
def test_only_doctors_request_consultations(chain: Chain, who: str) -> None:
    m = consultation(chain, keccak(text=who))
    chain.reverts("relayer", signed(chain, m, who), "WorkflowUnauthorized", actor=chain.addr(who))


def test_opinion_rules(chain: Chain) -> None:
    con_id = consult(chain, invited=(2,))  # no policy
    op = opinion(con_id, cid_for("op"), b32("h"))
    for who in ("doctor_a2", "auditor_a", "patient", "key_authority", "relayer"):
        chain.reverts(
            "relayer", signed(chain, op, who), "WorkflowUnauthorized", actor=chain.addr(who)
        )
    for bad in (opinion(con_id, "", b32("h")), opinion(con_id, cid_for("op"), ZERO32)):
        chain.reverts("relayer", signed(chain, bad, "doctor_b"), "WorkflowInvalidDocument")
    good = signed(chain, op, "doctor_b")
    chain.send("relayer", good)
    chain.reverts(  # replayed, or the same clinician again
        "relayer", good, "WorkflowAlreadyOpined", id=con_id, actor=chain.addr("doctor_b")
    )
    again = opinion(con_id, cid_for("op2"), b32("h2"))
    chain.reverts("relayer", signed(chain, again, "doctor_b"), "WorkflowAlreadyOpined")


def test_policy_opinions_only_through_a_relayer(chain: Chain) -> None:
    con_id = consult(chain, invited=(), policy=b32("policy"))
    op = opinion(con_id, cid_for("o"), b32("h"))
    chain.reverts("doctor_a2", signed(chain, op, None), "WorkflowUnauthorized")
    chain.reverts("doctor_a2", signed(chain, op, "doctor_a2"), "WorkflowUnauthorized")
    chain.send("relayer", signed(chain, op, "doctor_a2"))
    assert wf(chain).consultationOf(con_id).call()[4] == 1


def test_opinions_refused_after_closing_time(chain: Chain) -> None:
    closes_at = chain.now() + 100
    con_id = consult(chain, closes_at=closes_at)
    chain.mine(closes_at + 1)
    op = opinion(con_id, cid_for("o"), b32("h"))
    chain.reverts(
        "relayer",
        signed(chain, op, "doctor_b"),
        "WorkflowDeadlinePassed",
        id=con_id,
        deadline=closes_at,
    )
    # the requester can still close it
    chain.send("relayer", signed(chain, close(con_id, cid_for("c"), b32("c")), "doctor_a"))


def test_close_and_cancel_rules(chain: Chain) -> None:
    con_id = consult(chain)
    conclusion = close(con_id, cid_for("c"), b32("c"))
    for who in ("doctor_a2", "doctor_b", "patient", "relayer"):
        chain.reverts("relayer", signed(chain, conclusion, who), "WorkflowUnauthorized")
        chain.reverts("relayer", signed(chain, cancel(con_id), who), "WorkflowUnauthorized")
    for bad in (close(con_id, "", b32("c")), close(con_id, cid_for("c"), ZERO32)):
        chain.reverts("relayer", signed(chain, bad, "doctor_a"), "WorkflowInvalidDocument")
    stop = cancel(con_id, b32("patient left"))
    receipt = chain.send("relayer", signed(chain, stop, "doctor_a"))
    assert chain.one_event("Workflow", "ConsultationCancelled", receipt) == {
        "consultationId": con_id,
        "actor": chain.addr("doctor_a"),
        "reason": b32("patient left"),
    }
    assert wf(chain).consultationOf(con_id).call()[2] == C_CANCELLED
    chain.reverts(
        "relayer",
        signed(chain, conclusion, "doctor_a"),
        "WorkflowInvalidTransition",
        status=C_CANCELLED,
    )
    chain.reverts("relayer", signed(chain, stop, "doctor_a"), "WorkflowInvalidTransition")
    late = opinion(con_id, cid_for("o"), b32("h"))
    chain.reverts("relayer", signed(chain, late, "doctor_b"), "WorkflowInvalidTransition")


def test_unknown_consultation(chain: Chain) -> None:
    missing = keccak(text="missing")
    for who, message in (
        ("doctor_b", opinion(missing, cid_for("o"), b32("h"))),
        ("doctor_a", close(missing, cid_for("c"), b32("c"))),
        ("doctor_a", cancel(missing)),
    ):
        chain.reverts(
            "relayer", signed(chain, message, who), "WorkflowUnknownConsultation", id=missing
        )
    chain.reverts(
        "relayer", wf(chain).consultationOf(missing), "WorkflowUnknownConsultation", id=missing
    )
