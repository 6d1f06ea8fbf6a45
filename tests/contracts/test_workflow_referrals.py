"""Workflow referrals: every transition signed by its actor, who may make it, the event each
emits, the summary rule (receiving institution, after acceptance), and replay."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from crypto.signing import RecordWithdraw, ReferralRequest, ReferralStep
from tests.contracts.helpers import FAR, Chain, args, b32, rid
from tests.contracts.workflow_calls import (
    ACCEPT,
    ACCEPTED,
    ARRIVE,
    ARRIVED,
    CANCEL,
    CANCELLED,
    COMPLETE,
    COMPLETED,
    REJECT,
    REJECTED,
    REQUESTED,
    ZERO,
    ZERO32,
    record,
    refer,
    request,
    step,
    wf,
)


def test_wiring_domain_and_constructor(chain: Chain) -> None:
    assert wf(chain).consortium().call() == chain.c["Consortium"].address
    assert wf(chain).registry().call() == chain.c["RecordRegistry"].address
    assert wf(chain).MAX_INVITED().call() == 16
    assert wf(chain).eip712Domain().call()[1] == "MedLedger Workflow"
    reg = chain.c["RecordRegistry"].address
    assert chain.constructor_revert("Workflow", ZERO, reg).name == "WorkflowZeroAddress"
    con = chain.c["Consortium"].address
    assert chain.constructor_revert("Workflow", con, ZERO).name == "WorkflowZeroAddress"
    assert chain.constructor_revert("RecordRegistry", ZERO).name == "RecordRegistryZeroAddress"
    assert chain.constructor_revert("Consortium", ZERO).name == "ConsortiumZeroAddress"


def test_struct_hashes_match_python(chain: Chain) -> None:
    req = ReferralRequest(
        referral_id=rid("h"),
        patient=chain.addr("patient"),
        to_institution=2**32 - 1,
        record_id=rid("r"),
        reason=b32("x"),
        deadline=5,
    )
    assert wf(chain).hashReferralRequest(args(req)).call() == req.struct_hash()
    s = ReferralStep.complete(rid("h"), rid("s"), deadline=FAR)
    assert wf(chain).hashReferralStep(args(s)).call() == s.struct_hash()
    assert wf(chain).REFERRAL_STEP_TYPEHASH().call() == s.type_hash()


def test_referral_full_path(chain: Chain) -> None:
    letter = record(chain, "letter")
    ref_id = keccak(text="referral:full")
    call = request(chain, ref_id, record_id=letter, reason=b32("chest pain"))
    receipt = chain.send("relayer", call)
    assert chain.one_event("Workflow", "ReferralRequested", receipt) == {
        "referralId": ref_id,
        "patient": chain.addr("patient"),
        "toInstitution": 2,
        "fromInstitution": 1,
        "requester": chain.addr("doctor_a"),
        "recordId": letter,
        "reason": b32("chest pain"),
    }
    patient, requester = chain.addr("patient"), chain.addr("doctor_a")
    state = wf(chain).referralOf(ref_id).call()
    assert state == [patient, 1, 2, REQUESTED, requester, letter, ZERO32, 0]
    receipt = chain.send("relayer", step(chain, ref_id, ACCEPT))
    assert chain.one_event("Workflow", "ReferralAccepted", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_b"),
    }
    accepted_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert wf(chain).referralOf(ref_id).call()[7] == accepted_at
    receipt = chain.send("doctor_b", step(chain, ref_id, ARRIVE, None))  # direct, unsigned
    assert chain.one_event("Workflow", "ReferralArrived", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_b"),
    }
    summary = record(chain, "summary", by="doctor_b")
    receipt = chain.send("relayer", step(chain, ref_id, COMPLETE, argument=summary))
    assert chain.one_event("Workflow", "ReferralCompleted", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_b"),
        "summaryRecordId": summary,
    }
    state = wf(chain).referralOf(ref_id).call()
    assert (state[3], state[6]) == (COMPLETED, summary)


def test_complete_straight_from_accepted(chain: Chain) -> None:
    ref_id = refer(chain)
    chain.send("relayer", step(chain, ref_id, ACCEPT))
    summary = record(chain, "s", by="doctor_b")
    chain.send("relayer", step(chain, ref_id, COMPLETE, argument=summary))
    assert wf(chain).referralOf(ref_id).call()[3] == COMPLETED


def test_request_referral_reverts(chain: Chain) -> None:
    ref_id = refer(chain, "taken")
    chain.reverts("relayer", request(chain, ref_id), "WorkflowDuplicateId", id=ref_id)
    new = keccak(text="new")
    chain.reverts("relayer", request(chain, ZERO32), "WorkflowDuplicateId")
    chain.reverts("relayer", request(chain, new, patient=ZERO), "WorkflowInvalidPatient")
    for inst in (1, 0, 9):
        chain.reverts(
            "relayer",
            request(chain, new, to=inst),
            "WorkflowInvalidInstitution",
            institutionId=inst,
        )
    other = record(chain, "theirs", patient="patient2")
    for bad in (other, rid("unknown")):
        chain.reverts(
            "relayer", request(chain, new, record_id=bad), "WorkflowInvalidRecord", recordId=bad
        )
    withdrawn = record(chain, "gone")
    message = RecordWithdraw(id=withdrawn, reason_code=1, deadline=FAR)
    registry = chain.c["RecordRegistry"].functions
    chain.send("relayer", registry.withdraw(args(message), chain.sig("patient", message)))
    chain.reverts("relayer", request(chain, new, record_id=withdrawn), "WorkflowInvalidRecord")
    chain.send("admin", chain.c["Consortium"].functions.suspendInstitution(2))
    chain.reverts("relayer", request(chain, new), "WorkflowInvalidInstitution")


@pytest.mark.parametrize(
    "who", ["nurse_a", "auditor_a", "key_authority", "inst_a_admin", "patient", "relayer"]
)
def test_only_doctors_request(chain: Chain, who: str) -> None:
    call = request(chain, keccak(text=who), who)
    chain.reverts("relayer", call, "WorkflowUnauthorized", actor=chain.addr(who))
    chain.reverts(who, request(chain, keccak(text=who), None), "WorkflowUnauthorized")


@pytest.mark.parametrize("who", ["doctor_b", "nurse_a", "patient", "outsider", "auditor_a"])
def test_only_relayers_carry_someone_elses_signature(chain: Chain, who: str) -> None:
    ref_id = refer(chain)
    caller = chain.addr(who)
    for call in (
        request(chain, keccak(text="x")),
        step(chain, ref_id, CANCEL, "doctor_a"),
        step(chain, ref_id, ACCEPT, "doctor_a2"),
    ):
        chain.reverts(who, call, "WorkflowUnauthorizedRelay", caller=caller)


def test_accept_reject_need_a_receiving_doctor(chain: Chain) -> None:
    ref_id = refer(chain)
    for who in ("doctor_a", "doctor_a2", "nurse_a", "auditor_a", "patient", "relayer"):
        actor = chain.addr(who)
        chain.reverts(
            "relayer", step(chain, ref_id, ACCEPT, who), "WorkflowUnauthorized", actor=actor
        )
        chain.reverts("relayer", step(chain, ref_id, REJECT, who), "WorkflowUnauthorized")
    chain.reverts("relayer", step(chain, ref_id, ACCEPT, None), "WorkflowUnauthorized")
    chain.send("admin", chain.c["Consortium"].functions.suspendMember(chain.addr("doctor_b")))
    chain.reverts("relayer", step(chain, ref_id, ACCEPT), "WorkflowUnauthorized")


def test_reject(chain: Chain) -> None:
    ref_id = refer(chain)
    receipt = chain.send("relayer", step(chain, ref_id, REJECT, argument=b32("no beds")))
    assert chain.one_event("Workflow", "ReferralRejected", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_b"),
        "reason": b32("no beds"),
    }
    assert wf(chain).referralOf(ref_id).call()[3] == REJECTED
    for action in (ACCEPT, REJECT, ARRIVE):
        chain.reverts(
            "relayer",
            step(chain, ref_id, action),
            "WorkflowInvalidTransition",
            id=ref_id,
            status=REJECTED,
        )
    chain.reverts("relayer", step(chain, ref_id, CANCEL, "doctor_a"), "WorkflowInvalidTransition")


def test_action_and_argument_checks(chain: Chain) -> None:
    ref_id = refer(chain)
    for bad in (0, 6, 255):
        chain.reverts("relayer", step(chain, ref_id, bad), "WorkflowInvalidAction", action=bad)
    for action in (ACCEPT, ARRIVE):
        chain.reverts(
            "relayer",
            step(chain, ref_id, action, argument=b32("x")),
            "WorkflowUnexpectedArgument",
            action=action,
        )


def test_a_signed_step_applies_once(chain: Chain) -> None:
    ref_id = refer(chain)
    accept = step(chain, ref_id, ACCEPT)
    chain.send("relayer", accept)
    chain.reverts("relayer", accept, "WorkflowInvalidTransition", status=ACCEPTED)


def test_arrival_rules(chain: Chain) -> None:
    ref_id = refer(chain)
    chain.reverts(
        "relayer", step(chain, ref_id, ARRIVE), "WorkflowInvalidTransition", status=REQUESTED
    )
    chain.send("relayer", step(chain, ref_id, ACCEPT))
    chain.reverts("relayer", step(chain, ref_id, ARRIVE, "doctor_a"), "WorkflowUnauthorized")
    # a nurse of the receiving institution may check the patient in ...
    nurse_b = chain.accounts["outsider"]
    chain.send(
        "inst_b_admin",
        chain.c["Consortium"].functions.enrolMember(nurse_b.address, 2, 2, [b32("ward:3")]),
    )
    receipt = chain.send("relayer", step(chain, ref_id, ARRIVE, "outsider"))
    assert chain.one_event("Workflow", "ReferralArrived", receipt)["actor"] == nurse_b.address
    chain.reverts(
        "relayer", step(chain, ref_id, ARRIVE), "WorkflowInvalidTransition", status=ARRIVED
    )
    # ... but not complete it
    summary = record(chain, "s", by="doctor_b")
    chain.reverts(
        "relayer",
        step(chain, ref_id, COMPLETE, "outsider", argument=summary),
        "WorkflowUnauthorized",
    )


def test_complete_rules(chain: Chain) -> None:
    ref_id = refer(chain)
    early = record(chain, "early", by="doctor_b")  # registered before the acceptance
    chain.mine(chain.now() + 10)
    chain.reverts(
        "relayer",
        step(chain, ref_id, COMPLETE, argument=early),
        "WorkflowInvalidTransition",
        status=REQUESTED,
    )
    chain.send("relayer", step(chain, ref_id, ACCEPT))
    wrong = record(chain, "wrong", patient="patient2", by="doctor_b")
    for bad in (wrong, rid("missing"), ZERO32):
        chain.reverts(
            "relayer",
            step(chain, ref_id, COMPLETE, argument=bad),
            "WorkflowInvalidRecord",
            recordId=bad,
        )
    summary = record(chain, "s", by="doctor_b")
    chain.reverts(
        "relayer",
        step(chain, ref_id, COMPLETE, "doctor_a", argument=summary),
        "WorkflowUnauthorized",
    )
    chain.send("relayer", step(chain, ref_id, COMPLETE, argument=summary))
    chain.reverts(
        "relayer",
        step(chain, ref_id, COMPLETE, argument=summary),
        "WorkflowInvalidTransition",
        status=COMPLETED,
    )


def test_summary_must_come_from_the_receiving_institution_after_acceptance(
    chain: Chain,
) -> None:
    """Issue attack 6: a referral completed naming any record of the patient as its summary
    (a private note no consent covered) opened it to the requester."""
    private_note = record(chain, "private note", by="patient")  # the patient's own record
    sender_note = record(chain, "sender note", by="doctor_a")  # the sending institution's
    before = record(chain, "before", by="doctor_b")  # the right institution, but too early
    chain.mine(chain.now() + 10)
    ref_id = refer(chain)
    chain.send("relayer", step(chain, ref_id, ACCEPT))
    accepted_at = wf(chain).referralOf(ref_id).call()[7]
    for bad, author in ((private_note, 0), (sender_note, 1), (before, 2)):
        revert = chain.reverts(
            "relayer",
            step(chain, ref_id, COMPLETE, argument=bad),
            "WorkflowInvalidSummary",
            recordId=bad,
            authorInstitution=author,
        )
        if author == 2:
            assert revert.args["registeredAt"] < accepted_at
    after = record(chain, "after", by="doctor_b")
    chain.send("relayer", step(chain, ref_id, COMPLETE, argument=after))


def test_cancel_by_requester_before_acceptance(chain: Chain) -> None:
    ref_id = refer(chain)
    for who in ("doctor_a2", "doctor_b", "nurse_a", "relayer"):
        chain.reverts("relayer", step(chain, ref_id, CANCEL, who), "WorkflowUnauthorized")
    receipt = chain.send(
        "relayer", step(chain, ref_id, CANCEL, "doctor_a", argument=b32("resolved"))
    )
    assert chain.one_event("Workflow", "ReferralCancelled", receipt) == {
        "referralId": ref_id,
        "actor": chain.addr("doctor_a"),
        "reason": b32("resolved"),
    }
    assert wf(chain).referralOf(ref_id).call()[3] == CANCELLED
    chain.reverts(
        "relayer", step(chain, ref_id, ACCEPT), "WorkflowInvalidTransition", status=CANCELLED
    )
    accepted = refer(chain, "acc")
    chain.send("relayer", step(chain, accepted, ACCEPT))
    chain.reverts(
        "relayer",
        step(chain, accepted, CANCEL, "doctor_a"),
        "WorkflowInvalidTransition",
        status=ACCEPTED,
    )


def test_unknown_referral(chain: Chain) -> None:
    missing = keccak(text="missing")
    for action in (ACCEPT, REJECT, ARRIVE, COMPLETE, CANCEL):
        chain.reverts(
            "relayer", step(chain, missing, action), "WorkflowUnknownReferral", id=missing
        )
    chain.reverts("relayer", wf(chain).referralOf(missing), "WorkflowUnknownReferral", id=missing)
