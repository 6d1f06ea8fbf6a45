"""Workflow steps are their actors' own signed acts, and a referral's summary is the answer
the referral asked for (issue 14, attacks 4 and 6), through the API and against the chain.

- a request or a step signed by anyone but the caller, or for other values than those sent,
  is refused with 403 ``signer_mismatch``; an expired or far-dated one with 422; a replayed
  one changes nothing (the state machine, and the chain, refuse it);
- the summary must be written by the completing clinician (422 ``summary_not_yours``) and
  registered after the referral was accepted (422 ``summary_before_acceptance``; the chain
  refuses it too, ``WorkflowInvalidSummary``); it is then readable by the requesting doctor,
  with the referral as the justification on chain, and not by another clinician of the
  sending institution whom its policy admits.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from crypto.signing import ReferralAction, ReferralStep, TypedMessage
from ledger_api.chain.consortium import Role
from ledger_api.chain.errors import TransactionRevertedError
from tests.api.conftest import Stack
from tests.api.signing_writes import (
    consultation_step,
    new_id,
    referral_request,
    referral_step,
    signed_field,
)
from tests.api.test_consultations import AUDIENCE, FOR_GP, consultation_body, open_consultation
from tests.api.test_referrals import DEPT_POLICY, act, create, referral_body
from tests.api.workflow_support import (
    advance_chain_time,
    enrol_cast,
    error_code,
    read,
    share,
    snapshot,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def signed(stack: Stack, signer: Any, message: TypedMessage, **changes: Any) -> dict[str, Any]:
    return signed_field(stack.ctx, signer, dataclasses.replace(message, **changes))


def step(
    stack: Stack, who: Any, rid: str, action: str, signer: Any, **body: Any
) -> tuple[int, str | None]:
    """``POST /referrals/{rid}/{action}`` as ``who`` with ``signer``'s signature of the step
    (``for_id``/``for_action``/``deadline`` make the signed step differ from the request)."""
    message = referral_step(body.pop("for_id", rid), body.pop("for_action", action), body)
    sig = signed(stack, signer, message, deadline=body.pop("deadline", message.deadline))
    answer = act(stack, who, rid, action, {**body, "signed": sig})
    return answer.status_code, None if answer.status_code < 400 else error_code(answer)


def test_requests_and_steps_signed_by_someone_else(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    labs_id, _ = share(s, s.gp, DEPT_POLICY)
    body = referral_body(s, reason_id=reason_id, record_ids=[], whole_chart=True)
    body["referral_id"] = new_id()
    request = referral_request(s.ctx, body)
    before = snapshot(s)

    def post(who: Any, content: dict[str, Any]) -> tuple[int, str]:
        answer = s.client.post("/referrals", json=content, headers=s.login(who))
        return answer.status_code, error_code(answer)

    gp_signed = {**body, "signed": signed(s, s.gp, request)}
    # the GP's signed request relayed by another doctor, in the GP's name: refused
    assert post(cast.county_cardiologist, gp_signed) == (403, "signer_mismatch")
    # signed by another doctor, sent by the GP
    assert post(s.gp, {**body, "signed": signed(s, s.cardiologist, request)}) == (
        403,
        "signer_mismatch",
    )
    # the GP's signature, other details sent than signed
    for change in (
        {"department": "neurology"},
        {"urgency": "routine"},
        {"record_ids": [labs_id]},
        {"referral_id": new_id()},
    ):
        assert post(s.gp, {**gp_signed, **change})[1] in ("signer_mismatch", "consent_mismatch")
    assert post(s.gp, {**gp_signed, "urgency": "routine"}) == (403, "signer_mismatch")
    assert snapshot(s) == before
    rid = create(s, gp_signed)["referral_id"]

    # accept: signed by another cd3h doctor, for another referral, or as another step
    after = snapshot(s)
    assert step(s, s.cardiologist, rid, "accept", cast.neurologist) == (403, "signer_mismatch")
    assert step(s, s.cardiologist, rid, "accept", s.gp) == (403, "signer_mismatch")
    other = new_id()
    assert step(s, s.cardiologist, rid, "accept", s.cardiologist, for_id=other) == (
        403,
        "signer_mismatch",
    )
    assert step(s, s.cardiologist, rid, "accept", s.cardiologist, for_action="arrive") == (
        403,
        "signer_mismatch",
    )
    # a rejection signed with one reason, sent with another
    message = referral_step(rid, "reject", {"reason": "no_beds"})
    sig = signed(s, s.cardiologist, message)
    answer = act(s, s.cardiologist, rid, "reject", {"reason": "other", "signed": sig})
    assert (answer.status_code, error_code(answer)) == (403, "signer_mismatch")
    assert snapshot(s) == after


def test_expired_far_dated_and_replayed_step_signatures(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    first = create(s, referral_body(s, reason_id=reason_id, record_ids=[]))["referral_id"]
    second = create(s, referral_body(s, reason_id=reason_id, record_ids=[]))["referral_id"]
    before = snapshot(s)
    past, far = int(time.time()) - 1, int(time.time()) + 8 * 86_400
    assert step(s, s.cardiologist, first, "accept", s.cardiologist, deadline=past) == (
        422,
        "signature_expired",
    )
    assert step(s, s.cardiologist, first, "accept", s.cardiologist, deadline=far) == (
        422,
        "deadline_too_far",
    )
    assert snapshot(s) == before

    # one signed accept: it applies once; again it is a 409, through the API or on chain
    accept = referral_step(first, "accept", {})
    sig = signed(s, s.cardiologist, accept)
    assert act(s, s.cardiologist, first, "accept", {"signed": sig}).status_code == 200
    after = snapshot(s)
    again = act(s, s.cardiologist, first, "accept", {"signed": sig})
    assert (again.status_code, error_code(again)) == (409, "invalid_transition")
    with pytest.raises(TransactionRevertedError) as refused:
        s.ctx.chain.workflow.step_referral(accept, bytes.fromhex(sig["signature"][2:])).wait()
    assert refused.value.error_name == "WorkflowInvalidTransition"
    # the first referral's accept does not accept the second
    answer = act(s, s.cardiologist, second, "accept", {"signed": sig})
    assert (answer.status_code, error_code(answer)) == (403, "signer_mismatch")
    assert snapshot(s) == after

    # a consultation opinion: the invited clinician's own, once
    question_id, _ = share(s, s.gp, AUDIENCE)
    cid = open_consultation(s, consultation_body(s, question_id=question_id, record_ids=[]))[
        "consultation_id"
    ]
    opinion_id, _ = share(s, cast.county_cardiologist, FOR_GP)
    url = f"/consultations/{cid}/opinions"
    opinion = consultation_step(s.ctx, cid, "opinions", {"record_id": opinion_id})
    body = {"record_id": opinion_id}
    headers = s.login(cast.county_cardiologist)
    by_other = {**body, "signed": signed(s, cast.county_neurologist, opinion)}
    answer = s.client.post(url, json=by_other, headers=headers)
    assert (answer.status_code, error_code(answer)) == (403, "signer_mismatch")
    own = {**body, "signed": signed(s, cast.county_cardiologist, opinion)}
    assert s.client.post(url, json=own, headers=headers).status_code == 201
    answer = s.client.post(url, json=own, headers=headers)
    assert (answer.status_code, error_code(answer)) == (409, "already_opined")


def test_the_summary_is_the_completing_doctors_answer_for_the_requester(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    colleague = Account.create()  # another doctor of the sending institution (qyqchc)
    s.admin_consortium.enrol_member(
        account=colleague.address,
        institution_id=s.qyqchc,
        role=Role.DOCTOR,
        attributes=["dept:general_practice"],
    ).wait()
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    early_id, _ = share(s, s.cardiologist, "org:qyqchc")  # written before the acceptance
    rid = create(s, referral_body(s, reason_id=reason_id, record_ids=[]))["referral_id"]
    advance_chain_time(s, 2)
    assert act(s, s.cardiologist, rid, "accept").status_code == 200
    by_neurologist, _ = share(s, cast.neurologist, "org:qyqchc")  # cd3h, after acceptance
    by_gp, _ = share(s, s.gp, "org:qyqchc")  # the sending side's own record
    before = snapshot(s)

    def complete(summary: str) -> tuple[int, str | None]:
        return step(s, s.cardiologist, rid, "complete", s.cardiologist, summary_record_id=summary)

    assert complete(by_neurologist) == (422, "summary_not_yours")
    assert complete(by_gp) == (422, "summary_not_yours")
    assert complete(early_id) == (422, "summary_before_acceptance")
    assert snapshot(s) == before
    # the chain refuses the early one itself, when a relayer carries it without the API
    message = ReferralStep(
        referral_id=bytes.fromhex(rid[2:]),
        action=ReferralAction.COMPLETE,
        argument=bytes.fromhex(early_id[2:]),
        deadline=int(time.time()) + 600,
    )
    workflow = s.ctx.chain.workflow
    for summary in (early_id, by_gp):
        message = dataclasses.replace(message, argument=bytes.fromhex(summary[2:]))
        with pytest.raises(TransactionRevertedError) as refused:
            workflow.step_referral(message, workflow.sign_as(s.cardiologist, message)).wait()
        assert refused.value.error_name == "WorkflowInvalidSummary"
    assert snapshot(s) == before

    summary_id, _ = share(s, s.cardiologist, "org:qyqchc")
    assert complete(summary_id) == (200, None)
    # the requesting doctor reads it (the referral is the justification on chain); another
    # doctor of the sending institution, whom the summary's policy admits, does not
    start = s.w3.eth.block_number
    assert read(s, s.gp, summary_id, "referral").status_code == 200
    assert read(s, colleague, summary_id, "referral").status_code == 403
    assert read(s, cast.neurologist, summary_id, "referral").status_code == 403
    entries = {
        (e["accessor"], e["granted"]): "0x" + e["justification"].hex()
        for e in s.access_logged(from_block=start + 1)
    }
    assert entries[(s.gp.address, True)] == rid
    assert entries[(colleague.address, False)] == "0x" + "00" * 32


EXPECTED_CODES = ("invalid_request", "invalid_signature", "signature_expired")
MALFORMED_SIGNED: list[Any] = [
    None,
    "0x" + "11" * 65,
    {},
    {"signature": "0x" + "11" * 65},
    {"deadline": 1},
    {"signature": 5, "deadline": 1},
    {"signature": "0x" + "zz" * 65, "deadline": 1},
    {"signature": "0x" + "11" * 64, "deadline": 1},
    {"signature": "0x" + "ab" * 5000, "deadline": 1},
    {"signature": "0x" + "11" * 65, "deadline": -1},
    {"signature": "0x" + "11" * 65, "deadline": 2**64},
    {"signature": "0x" + "11" * 65, "deadline": "1"},
    {"signature": "0x" + "11" * 65, "deadline": 1.5},
    {"signature": "0x" + "11" * 65, "deadline": True},
    {"signature": "0x" + "11" * 65, "deadline": 1, "extra": 1},
    # canonical length, but s in the upper half and v = 29 (what the contracts refuse)
    {"signature": "0x" + "11" * 32 + "ff" * 32 + "1b", "deadline": int(time.time()) + 60},
    {"signature": "0x" + "11" * 64 + "1d", "deadline": int(time.time()) + 60},
]


def test_malformed_signatures_are_422_and_write_nothing(api_stack: Stack) -> None:
    s = api_stack
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    body = referral_body(s, reason_id=reason_id, record_ids=[])
    rid = create(s, body)["referral_id"]
    before = snapshot(s)
    targets = [
        (s.gp, "/referrals", {**body, "referral_id": new_id()}),
        (s.cardiologist, f"/referrals/{rid}/accept", {}),
        (s.gp, f"/referrals/{rid}/cancel", {"reason": "dup"}),
        (s.cardiologist, "/break-glass", {"patient": s.patient.address, "reason": "x" * 20}),
    ]
    for who, path, content in targets:
        for bad in MALFORMED_SIGNED:
            answer = s.client.post(path, json={**content, "signed": bad}, headers=s.login(who))
            assert answer.status_code == 422, (path, bad, answer.text)
            assert error_code(answer) in EXPECTED_CODES, answer.text
    assert snapshot(s) == before
