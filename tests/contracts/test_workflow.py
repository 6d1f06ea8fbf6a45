"""Workflow: referral and consultation state machines — every transition, who may make it,
and the event each one emits."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.contracts.helpers import Chain, b32, cid_for, record_input, rid

REQUESTED, ACCEPTED, ARRIVED, COMPLETED, REJECTED, CANCELLED = 1, 2, 3, 4, 5, 6
OPEN, CLOSED, C_CANCELLED = 1, 2, 3
ZERO32 = b"\x00" * 32
ZERO = "0x" + "00" * 20


def wf(chain: Chain):
    return chain.c["Workflow"].functions


def record(chain: Chain, label: str, patient: str = "patient", by: str = "doctor_a") -> bytes:
    record_id = rid(label)
    r = record_input(record_id, chain.addr(patient), chain.addr(by))
    chain.send(by, chain.c["RecordRegistry"].functions.register(r))
    return record_id


def refer(chain: Chain, label: str = "ref", *, record_id: bytes = ZERO32) -> bytes:
    ref_id = keccak(text="referral:" + label)
    call = wf(chain).requestReferral(
        chain.addr("doctor_a"), ref_id, chain.addr("patient"), 2, record_id, b32("chest pain")
    )
    chain.send("doctor_a", call)
    return ref_id


def consult(
    chain: Chain,
    label: str = "con",
    *,
    invited: list[int] | None = None,
    policy: bytes = ZERO32,
    deadline: int | None = None,
) -> bytes:
    con_id = keccak(text="consultation:" + label)
    call = wf(chain).requestConsultation(
        chain.addr("doctor_a"),
        con_id,
        chain.addr("patient"),
        ZERO32,
        [2] if invited is None else invited,
        policy,
        deadline or chain.now() + 3600,
    )
    chain.send("doctor_a", call)
    return con_id


def test_wiring_and_constructor(chain: Chain) -> None:
    assert wf(chain).consortium().call() == chain.c["Consortium"].address
    assert wf(chain).registry().call() == chain.c["RecordRegistry"].address
    assert wf(chain).MAX_INVITED().call() == 16
    reg = chain.c["RecordRegistry"].address
    assert chain.constructor_revert("Workflow", ZERO, reg).name == "WorkflowZeroAddress"
    con = chain.c["Consortium"].address
    assert chain.constructor_revert("Workflow", con, ZERO).name == "WorkflowZeroAddress"
    assert chain.constructor_revert("RecordRegistry", ZERO).name == "RecordRegistryZeroAddress"
    assert chain.constructor_revert("Consortium", ZERO).name == "ConsortiumZeroAddress"


# -- referrals --------------------------------------------------------------------------------


def test_referral_full_path(chain: Chain) -> None:
    letter = record(chain, "letter")
    ref_id = keccak(text="referral:full")
    receipt = chain.send(
        "doctor_a",
        wf(chain).requestReferral(
            chain.addr("doctor_a"), ref_id, chain.addr("patient"), 2, letter, b32("chest pain")
        ),
    )
    assert chain.one_event("Workflow", "ReferralRequested", receipt) == {
        "referralId": ref_id,
        "patient": chain.addr("patient"),
        "toInstitution": 2,
        "fromInstitution": 1,
        "requester": chain.addr("doctor_a"),
        "recordId": letter,
        "reason": b32("chest pain"),
    }
    assert wf(chain).referralOf(ref_id).call() == [
        chain.addr("patient"),
        1,
        2,
        REQUESTED,
        chain.addr("doctor_a"),
        letter,
        ZERO32,
    ]
    receipt = chain.send("doctor_b", wf(chain).acceptReferral(chain.addr("doctor_b"), ref_id))
    assert chain.one_event("Workflow", "ReferralAccepted", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_b"),
    }
    receipt = chain.send("relayer", wf(chain).markArrived(chain.addr("doctor_b"), ref_id))
    assert chain.one_event("Workflow", "ReferralArrived", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_b"),
    }
    summary = record(chain, "summary", by="doctor_b")
    receipt = chain.send(
        "doctor_b", wf(chain).completeReferral(chain.addr("doctor_b"), ref_id, summary)
    )
    assert chain.one_event("Workflow", "ReferralCompleted", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_b"),
        "summaryRecordId": summary,
    }
    state = wf(chain).referralOf(ref_id).call()
    assert state[3] == COMPLETED
    assert state[6] == summary


def test_complete_straight_from_accepted(chain: Chain) -> None:
    ref_id = refer(chain)
    chain.send("doctor_b", wf(chain).acceptReferral(chain.addr("doctor_b"), ref_id))
    summary = record(chain, "s", by="doctor_b")
    chain.send("doctor_b", wf(chain).completeReferral(chain.addr("doctor_b"), ref_id, summary))
    assert wf(chain).referralOf(ref_id).call()[3] == COMPLETED


def test_request_referral_reverts(chain: Chain) -> None:
    f = wf(chain)
    me, patient = chain.addr("doctor_a"), chain.addr("patient")
    ref_id = refer(chain, "taken")
    chain.reverts(
        "doctor_a",
        f.requestReferral(me, ref_id, patient, 2, ZERO32, ZERO32),
        "WorkflowDuplicateId",
        id=ref_id,
    )
    new = keccak(text="new")
    chain.reverts(
        "doctor_a", f.requestReferral(me, ZERO32, patient, 2, ZERO32, ZERO32), "WorkflowDuplicateId"
    )
    chain.reverts(
        "doctor_a", f.requestReferral(me, new, ZERO, 2, ZERO32, ZERO32), "WorkflowInvalidPatient"
    )
    for inst in (1, 0, 9):
        chain.reverts(
            "doctor_a",
            f.requestReferral(me, new, patient, inst, ZERO32, ZERO32),
            "WorkflowInvalidInstitution",
            institutionId=inst,
        )
    other = record(chain, "theirs", patient="patient2")
    for bad in (other, rid("unknown")):
        chain.reverts(
            "doctor_a",
            f.requestReferral(me, new, patient, 2, bad, ZERO32),
            "WorkflowInvalidRecord",
            recordId=bad,
        )
    withdrawn = record(chain, "gone")
    chain.send("patient", chain.c["RecordRegistry"].functions.withdraw(patient, withdrawn, 1))
    chain.reverts(
        "doctor_a",
        f.requestReferral(me, new, patient, 2, withdrawn, ZERO32),
        "WorkflowInvalidRecord",
    )
    chain.send("admin", chain.c["Consortium"].functions.suspendInstitution(2))
    chain.reverts(
        "doctor_a",
        f.requestReferral(me, new, patient, 2, ZERO32, ZERO32),
        "WorkflowInvalidInstitution",
    )


@pytest.mark.parametrize(
    "who", ["nurse_a", "auditor_a", "key_authority", "inst_a_admin", "patient"]
)
def test_only_doctors_request(chain: Chain, who: str) -> None:
    actor = chain.addr(who)
    call = wf(chain).requestReferral(
        actor, keccak(text=who), chain.addr("patient"), 2, ZERO32, ZERO32
    )
    chain.reverts(who, call, "WorkflowUnauthorized", actor=actor)
    chain.reverts("relayer", call, "WorkflowUnauthorized", actor=actor)
    call = wf(chain).requestConsultation(
        actor, keccak(text=who), chain.addr("patient"), ZERO32, [2], ZERO32, chain.now() + 99
    )
    chain.reverts(who, call, "WorkflowUnauthorized", actor=actor)


@pytest.mark.parametrize("who", ["doctor_b", "nurse_a", "patient", "outsider", "auditor_a"])
def test_only_relayer_may_act_for_another(chain: Chain, who: str) -> None:
    ref_id = refer(chain)
    caller = chain.addr(who)
    for call in (
        wf(chain).requestReferral(
            chain.addr("doctor_a"), keccak(text="x"), chain.addr("patient"), 2, ZERO32, ZERO32
        ),
        wf(chain).cancelReferral(chain.addr("doctor_a"), ref_id, ZERO32),
        wf(chain).acceptReferral(chain.addr("doctor_a"), ref_id),
    ):
        chain.reverts(who, call, "WorkflowUnauthorizedRelay", caller=caller)


def test_accept_reject_need_a_receiving_doctor(chain: Chain) -> None:
    ref_id = refer(chain)
    for who in ("doctor_a", "doctor_a2", "nurse_a", "auditor_a", "patient"):
        actor = chain.addr(who)
        chain.reverts(
            who, wf(chain).acceptReferral(actor, ref_id), "WorkflowUnauthorized", actor=actor
        )
        chain.reverts(who, wf(chain).rejectReferral(actor, ref_id, ZERO32), "WorkflowUnauthorized")
    chain.send("admin", chain.c["Consortium"].functions.suspendMember(chain.addr("doctor_b")))
    chain.reverts(
        "doctor_b", wf(chain).acceptReferral(chain.addr("doctor_b"), ref_id), "WorkflowUnauthorized"
    )


def test_reject(chain: Chain) -> None:
    ref_id = refer(chain)
    receipt = chain.send(
        "relayer", wf(chain).rejectReferral(chain.addr("doctor_b"), ref_id, b32("no beds"))
    )
    assert chain.one_event("Workflow", "ReferralRejected", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_b"),
        "reason": b32("no beds"),
    }
    assert wf(chain).referralOf(ref_id).call()[3] == REJECTED
    me = chain.addr("doctor_b")
    for call in (
        wf(chain).acceptReferral(me, ref_id),
        wf(chain).rejectReferral(me, ref_id, ZERO32),
        wf(chain).markArrived(me, ref_id),
    ):
        chain.reverts("doctor_b", call, "WorkflowInvalidTransition", id=ref_id, status=REJECTED)
    chain.reverts(
        "doctor_a",
        wf(chain).cancelReferral(chain.addr("doctor_a"), ref_id, ZERO32),
        "WorkflowInvalidTransition",
    )


def test_arrival_rules(chain: Chain) -> None:
    ref_id = refer(chain)
    me = chain.addr("doctor_b")
    chain.reverts(
        "doctor_b", wf(chain).markArrived(me, ref_id), "WorkflowInvalidTransition", status=REQUESTED
    )
    chain.send("doctor_b", wf(chain).acceptReferral(me, ref_id))
    chain.reverts(
        "doctor_a", wf(chain).markArrived(chain.addr("doctor_a"), ref_id), "WorkflowUnauthorized"
    )
    # a nurse of the receiving institution may check the patient in
    nurse_b = chain.accounts["outsider"]
    chain.send(
        "inst_b_admin",
        chain.c["Consortium"].functions.enrolMember(nurse_b.address, 2, 2, [b32("role:nurse")]),
    )
    receipt = chain.send(nurse_b, wf(chain).markArrived(nurse_b.address, ref_id))
    assert chain.one_event("Workflow", "ReferralArrived", receipt)["actor"] == nurse_b.address
    chain.reverts(
        "doctor_b", wf(chain).markArrived(me, ref_id), "WorkflowInvalidTransition", status=ARRIVED
    )
    # ... but not complete it
    summary = record(chain, "s", by="doctor_b")
    chain.reverts(
        nurse_b,
        wf(chain).completeReferral(nurse_b.address, ref_id, summary),
        "WorkflowUnauthorized",
    )


def test_complete_rules(chain: Chain) -> None:
    ref_id = refer(chain)
    me = chain.addr("doctor_b")
    summary = record(chain, "s", by="doctor_b")
    chain.reverts(
        "doctor_b",
        wf(chain).completeReferral(me, ref_id, summary),
        "WorkflowInvalidTransition",
        status=REQUESTED,
    )
    chain.send("doctor_b", wf(chain).acceptReferral(me, ref_id))
    wrong = record(chain, "wrong", patient="patient2", by="doctor_b")
    for bad in (wrong, rid("missing"), ZERO32):
        chain.reverts(
            "doctor_b",
            wf(chain).completeReferral(me, ref_id, bad),
            "WorkflowInvalidRecord",
            recordId=bad,
        )
    chain.reverts(
        "doctor_a",
        wf(chain).completeReferral(chain.addr("doctor_a"), ref_id, summary),
        "WorkflowUnauthorized",
    )
    chain.send("doctor_b", wf(chain).completeReferral(me, ref_id, summary))
    chain.reverts(
        "doctor_b",
        wf(chain).completeReferral(me, ref_id, summary),
        "WorkflowInvalidTransition",
        status=COMPLETED,
    )


def test_cancel_by_requester_before_acceptance(chain: Chain) -> None:
    ref_id = refer(chain)
    for who in ("doctor_a2", "doctor_b", "nurse_a"):
        chain.reverts(
            who, wf(chain).cancelReferral(chain.addr(who), ref_id, ZERO32), "WorkflowUnauthorized"
        )
    receipt = chain.send(
        "relayer", wf(chain).cancelReferral(chain.addr("doctor_a"), ref_id, b32("resolved"))
    )
    assert chain.one_event("Workflow", "ReferralCancelled", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_a"),
        "reason": b32("resolved"),
    }
    assert wf(chain).referralOf(ref_id).call()[3] == CANCELLED
    chain.reverts(
        "doctor_b",
        wf(chain).acceptReferral(chain.addr("doctor_b"), ref_id),
        "WorkflowInvalidTransition",
        status=CANCELLED,
    )
    accepted = refer(chain, "acc")
    chain.send("doctor_b", wf(chain).acceptReferral(chain.addr("doctor_b"), accepted))
    chain.reverts(
        "doctor_a",
        wf(chain).cancelReferral(chain.addr("doctor_a"), accepted, ZERO32),
        "WorkflowInvalidTransition",
        status=ACCEPTED,
    )


def test_unknown_referral(chain: Chain) -> None:
    missing = keccak(text="missing")
    f = wf(chain)
    for who, call in (
        ("doctor_b", f.acceptReferral(chain.addr("doctor_b"), missing)),
        ("doctor_b", f.rejectReferral(chain.addr("doctor_b"), missing, ZERO32)),
        ("doctor_b", f.markArrived(chain.addr("doctor_b"), missing)),
        ("doctor_b", f.completeReferral(chain.addr("doctor_b"), missing, ZERO32)),
        ("doctor_a", f.cancelReferral(chain.addr("doctor_a"), missing, ZERO32)),
        ("doctor_a", f.referralOf(missing)),
    ):
        chain.reverts(who, call, "WorkflowUnknownReferral", id=missing)


# -- consultations ---------------------------------------------------------------------------


def test_consultation_full_path(chain: Chain) -> None:
    deadline = chain.now() + 7200
    policy = keccak(text="role:doctor and dept:cardio")
    chart = record(chain, "chart")
    con_id = keccak(text="consultation:full")
    receipt = chain.send(
        "relayer",
        wf(chain).requestConsultation(
            chain.addr("doctor_a"), con_id, chain.addr("patient"), chart, [2], policy, deadline
        ),
    )
    assert chain.one_event("Workflow", "ConsultationRequested", receipt) == {
        "consultationId": con_id,
        "patient": chain.addr("patient"),
        "requesterInstitution": 1,
        "requester": chain.addr("doctor_a"),
        "recordId": chart,
        "policyHash": policy,
        "deadline": deadline,
        "invitedInstitutions": [2],
    }
    assert wf(chain).isInvited(con_id, 2).call() is True
    assert wf(chain).isInvited(con_id, 1).call() is False
    opinion = cid_for("opinion b")
    receipt = chain.send(
        "doctor_b", wf(chain).submitOpinion(chain.addr("doctor_b"), con_id, opinion, b32("h1"))
    )
    assert chain.one_event("Workflow", "ConsultationOpinionSubmitted", receipt) == {
        "consultationId": con_id,
        "author": chain.addr("doctor_b"),
        "institutionId": 2,
        "opinionCid": opinion,
        "opinionHash": b32("h1"),
    }
    assert wf(chain).hasOpined(con_id, chain.addr("doctor_b")).call() is True
    # via the policy: the relayer attests doctor_a2's attributes satisfy it
    chain.send(
        "relayer", wf(chain).submitOpinion(chain.addr("doctor_a2"), con_id, opinion, b32("h2"))
    )
    conclusion = cid_for("conclusion")
    receipt = chain.send(
        "doctor_a",
        wf(chain).closeConsultation(chain.addr("doctor_a"), con_id, conclusion, b32("c")),
    )
    assert chain.one_event("Workflow", "ConsultationClosed", receipt) == {
        "consultationId": con_id,
        "actor": chain.addr("doctor_a"),
        "conclusionCid": conclusion,
        "conclusionHash": b32("c"),
        "opinionCount": 2,
    }
    assert wf(chain).consultationOf(con_id).call() == [
        chain.addr("patient"),
        1,
        CLOSED,
        deadline,
        2,
        chain.addr("doctor_a"),
        chart,
        policy,
    ]
    chain.reverts(
        "doctor_b",
        wf(chain).submitOpinion(chain.addr("doctor_b"), con_id, opinion, b32("late")),
        "WorkflowInvalidTransition",
        status=CLOSED,
    )


def test_request_consultation_reverts(chain: Chain) -> None:
    f = wf(chain)
    me, patient, soon = chain.addr("doctor_a"), chain.addr("patient"), chain.now() + 600
    taken = consult(chain, "taken")
    new = keccak(text="new")
    chain.reverts(
        "doctor_a",
        f.requestConsultation(me, taken, patient, ZERO32, [2], ZERO32, soon),
        "WorkflowDuplicateId",
    )
    chain.reverts(
        "doctor_a",
        f.requestConsultation(me, ZERO32, patient, ZERO32, [2], ZERO32, soon),
        "WorkflowDuplicateId",
    )
    chain.reverts(
        "doctor_a",
        f.requestConsultation(me, new, ZERO, ZERO32, [2], ZERO32, soon),
        "WorkflowInvalidPatient",
    )
    now = chain.now()
    for bad in (now, now - 5, 2**40):
        chain.reverts(
            "doctor_a",
            f.requestConsultation(me, new, patient, ZERO32, [2], ZERO32, bad),
            "WorkflowInvalidDeadline",
            deadline=bad,
        )
    chain.reverts(
        "doctor_a",
        f.requestConsultation(me, new, patient, ZERO32, [], ZERO32, soon),
        "WorkflowInvalidInvitees",
        count=0,
        max=16,
    )
    chain.reverts(
        "doctor_a",
        f.requestConsultation(me, new, patient, ZERO32, [2] * 17, ZERO32, soon),
        "WorkflowInvalidInvitees",
        count=17,
    )
    for inst in (0, 3):
        chain.reverts(
            "doctor_a",
            f.requestConsultation(me, new, patient, ZERO32, [2, inst], ZERO32, soon),
            "WorkflowInvalidInstitution",
            institutionId=inst,
        )
    chain.reverts(
        "doctor_a",
        f.requestConsultation(me, new, patient, rid("nope"), [2], ZERO32, soon),
        "WorkflowInvalidRecord",
    )
    # a policy alone is enough; sixteen institutions are fine
    chain.send("doctor_a", f.requestConsultation(me, new, patient, ZERO32, [], b32("p"), soon))
    chain.send(
        "doctor_a",
        f.requestConsultation(me, keccak(text="16"), patient, ZERO32, [1, 2] * 8, ZERO32, soon),
    )


def test_opinion_rules(chain: Chain) -> None:
    con_id = consult(chain, invited=[2])  # no policy
    f = wf(chain)
    opinion = cid_for("op")
    for who in ("doctor_a2", "auditor_a", "patient", "key_authority"):
        actor = chain.addr(who)
        chain.reverts(
            who,
            f.submitOpinion(actor, con_id, opinion, b32("h")),
            "WorkflowUnauthorized",
            actor=actor,
        )
    # without a policy the relayer cannot vouch for a non-invited clinician
    chain.reverts(
        "relayer",
        f.submitOpinion(chain.addr("doctor_a2"), con_id, opinion, b32("h")),
        "WorkflowUnauthorized",
    )
    chain.reverts(
        "doctor_b",
        f.submitOpinion(chain.addr("doctor_b"), con_id, "", b32("h")),
        "WorkflowInvalidDocument",
    )
    chain.reverts(
        "doctor_b",
        f.submitOpinion(chain.addr("doctor_b"), con_id, opinion, ZERO32),
        "WorkflowInvalidDocument",
    )
    chain.send("doctor_b", f.submitOpinion(chain.addr("doctor_b"), con_id, opinion, b32("h")))
    chain.reverts(
        "doctor_b",
        f.submitOpinion(chain.addr("doctor_b"), con_id, opinion, b32("h")),
        "WorkflowAlreadyOpined",
        id=con_id,
        actor=chain.addr("doctor_b"),
    )


def test_policy_opinions_only_through_relayer(chain: Chain) -> None:
    con_id = consult(chain, invited=[], policy=b32("policy"))
    me = chain.addr("doctor_a2")
    chain.reverts(
        "doctor_a2",
        wf(chain).submitOpinion(me, con_id, cid_for("o"), b32("h")),
        "WorkflowUnauthorized",
    )
    chain.send("relayer", wf(chain).submitOpinion(me, con_id, cid_for("o"), b32("h")))
    assert wf(chain).consultationOf(con_id).call()[4] == 1


def test_opinions_refused_after_deadline(chain: Chain) -> None:
    deadline = chain.now() + 100
    con_id = consult(chain, deadline=deadline)
    chain.mine(deadline + 1)
    chain.reverts(
        "doctor_b",
        wf(chain).submitOpinion(chain.addr("doctor_b"), con_id, cid_for("o"), b32("h")),
        "WorkflowDeadlinePassed",
        id=con_id,
        deadline=deadline,
    )
    # the requester can still close it
    chain.send(
        "doctor_a",
        wf(chain).closeConsultation(chain.addr("doctor_a"), con_id, cid_for("c"), b32("c")),
    )


def test_close_and_cancel_rules(chain: Chain) -> None:
    con_id = consult(chain)
    f = wf(chain)
    for who in ("doctor_a2", "doctor_b", "patient"):
        actor = chain.addr(who)
        chain.reverts(
            who, f.closeConsultation(actor, con_id, cid_for("c"), b32("c")), "WorkflowUnauthorized"
        )
        chain.reverts(who, f.cancelConsultation(actor, con_id, ZERO32), "WorkflowUnauthorized")
    me = chain.addr("doctor_a")
    chain.reverts(
        "doctor_a", f.closeConsultation(me, con_id, "", b32("c")), "WorkflowInvalidDocument"
    )
    chain.reverts(
        "doctor_a", f.closeConsultation(me, con_id, cid_for("c"), ZERO32), "WorkflowInvalidDocument"
    )
    receipt = chain.send("doctor_a", f.cancelConsultation(me, con_id, b32("patient left")))
    assert chain.one_event("Workflow", "ConsultationCancelled", receipt) == {
        "consultationId": con_id,
        "actor": me,
        "reason": b32("patient left"),
    }
    assert f.consultationOf(con_id).call()[2] == C_CANCELLED
    chain.reverts(
        "doctor_a",
        f.closeConsultation(me, con_id, cid_for("c"), b32("c")),
        "WorkflowInvalidTransition",
        status=C_CANCELLED,
    )
    chain.reverts("doctor_a", f.cancelConsultation(me, con_id, ZERO32), "WorkflowInvalidTransition")
    chain.reverts(
        "doctor_b",
        f.submitOpinion(chain.addr("doctor_b"), con_id, cid_for("o"), b32("h")),
        "WorkflowInvalidTransition",
    )


def test_unknown_consultation(chain: Chain) -> None:
    missing = keccak(text="missing")
    f = wf(chain)
    for who, call in (
        ("doctor_b", f.submitOpinion(chain.addr("doctor_b"), missing, cid_for("o"), b32("h"))),
        ("doctor_a", f.closeConsultation(chain.addr("doctor_a"), missing, cid_for("c"), b32("c"))),
        ("doctor_a", f.cancelConsultation(chain.addr("doctor_a"), missing, ZERO32)),
        ("doctor_a", f.consultationOf(missing)),
    ):
        chain.reverts(who, call, "WorkflowUnknownConsultation", id=missing)
