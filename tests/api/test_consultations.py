"""Remote consultations through the API: invitations, reads, opinions, deadline, close.

The community GP (qyqchc) asks for opinions on the patient, inviting cd3h (any of its
clinicians) and the policy ``role:doctor and dept:cardiology`` (which admits the county
hospital's cardiologist, not its neurologist). Opinions after the close or after the deadline
(the dev chain's clock moved with ``evm_increaseTime``) are refused with 409 and change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from crypto.policy import normalize, policy_hash
from crypto.signing import Purpose
from tests.api.conftest import Stack
from tests.api.workflow_support import (
    Cast,
    advance_chain_time,
    chain_time,
    consent_request,
    enrol_cast,
    error_code,
    read,
    share,
    snapshot,
)

INVITED_POLICY = "role:doctor and dept:cardiology"
AUDIENCE = "org:cd3h or (role:doctor and dept:cardiology)"
FOR_GP = "org:qyqchc and dept:general_practice"  # an opinion the requester can open


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def consultation_body(
    stack: Stack, *, question_id: str, record_ids: list[str], deadline_in: int = 3600
) -> dict[str, Any]:
    return {
        "patient": stack.patient.address,
        "question_record_id": question_id,
        "record_ids": record_ids,
        "invited_institutions": ["cd3h"],
        "invited_policy": INVITED_POLICY,
        "deadline": chain_time(stack) + deadline_in,
        "consents": [
            consent_request(stack, policy=AUDIENCE, purpose=Purpose.CONSULTATION, record_id=r)
            for r in [question_id, *record_ids]
        ],
    }


def open_consultation(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = stack.client.post("/consultations", json=body, headers=stack.login(stack.gp))
    assert response.status_code == 201, response.text
    return dict(response.json())


def opine(stack: Stack, who: Any, cid: str, record_id: str) -> Any:
    return stack.client.post(
        f"/consultations/{cid}/opinions", json={"record_id": record_id}, headers=stack.login(who)
    )


def listed(stack: Stack, who: Any, **params: Any) -> list[str]:
    response = stack.client.get("/consultations", params=params, headers=stack.login(who))
    assert response.status_code == 200, response.text
    return [i["consultation_id"] for i in response.json()["items"]]


def test_invited_specialists_read_opine_and_the_requester_closes(api_stack: Stack) -> None:
    s = api_stack
    cast: Cast = enrol_cast(s)
    question_id, question_header = share(s, s.gp, AUDIENCE)
    ecg_id, _ = share(s, s.gp, AUDIENCE)
    other_id, _ = share(s, s.gp, AUDIENCE)  # not shared
    view = open_consultation(s, consultation_body(s, question_id=question_id, record_ids=[ecg_id]))
    cid = view["consultation_id"]
    assert view["state"] == "open"
    assert view["invited_institutions"] == [s.cd3h]
    assert view["audience_policy"] == normalize(AUDIENCE)
    assert view["invited_policy"] == normalize(INVITED_POLICY)
    assert view["record_ids"] == [question_id, ecg_id]
    on_chain = s.ctx.chain.workflow.consultation_of(bytes.fromhex(cid[2:]))
    assert on_chain.deadline == view["deadline"]
    assert on_chain.policy_hash == policy_hash(normalize(INVITED_POLICY))

    # reads: invited institution (any clinician), policy match; not outside the policy
    shared = [question_id, ecg_id, other_id]
    response = read(s, cast.county_cardiologist, question_id, "consultation")
    assert (response.status_code, response.content) == (200, question_header)
    for who, expected in (
        (s.cardiologist, [200, 200, 403]),
        (cast.neurologist, [200, 200, 403]),  # cd3h is invited as an institution
        (cast.county_cardiologist, [200, 200, 403]),
        (cast.county_neurologist, [403, 403, 403]),  # outside the invited policy
        (s.auditor, [403, 403, 403]),
    ):
        got = [read(s, who, r, "consultation").status_code for r in shared]
        assert got == expected, who
    assert read(s, s.cardiologist, question_id, "treatment").status_code == 403
    assert read(s, s.cardiologist, question_id, "referral").status_code == 403

    # work lists
    assert listed(s, s.cardiologist) == [cid]
    assert listed(s, cast.county_cardiologist) == [cid]
    assert listed(s, cast.county_neurologist) == []
    assert listed(s, s.gp, role="requested") == [cid]
    assert listed(s, s.patient) == [cid]
    assert listed(s, s.auditor) == [cid]
    for who, status in ((cast.county_neurologist, 403), (s.other_patient, 403), (s.patient, 200)):
        assert s.client.get(f"/consultations/{cid}", headers=s.login(who)).status_code == status

    # opinions: one each, a record the specialist uploaded that the requester can open
    opinion_id, _ = share(s, s.cardiologist, FOR_GP)
    sealed_id, _ = share(s, cast.county_cardiologist, "org:pjxrmyy")  # requester cannot open
    theirs_id, _ = share(s, s.gp, FOR_GP)
    before = snapshot(s)
    for who, record, status, code in (
        (cast.county_neurologist, opinion_id, 403, "not_invited"),
        (s.patient, opinion_id, 403, "not_invited"),
        (cast.county_cardiologist, sealed_id, 422, "opinion_not_for_requester"),
        (s.cardiologist, theirs_id, 422, "not_author"),
    ):
        response = opine(s, who, cid, record)
        assert (response.status_code, error_code(response)) == (status, code), response.text
    assert snapshot(s) == before
    response = opine(s, s.cardiologist, cid, opinion_id)
    assert response.status_code == 201, response.text
    (opinion,) = response.json()["opinions"]
    assert opinion["author"] == s.cardiologist.address
    assert opinion["record_id"] == opinion_id
    assert s.w3.eth.get_transaction_receipt(opinion["tx_hash"])["status"] == 1
    again = opine(s, s.cardiologist, cid, opinion_id)
    assert (again.status_code, error_code(again)) == (409, "already_opined")
    # the requester reads the opinion; nobody else invited does
    assert read(s, s.gp, opinion_id, "consultation").status_code == 200
    assert read(s, cast.county_cardiologist, opinion_id, "consultation").status_code == 403

    # close: the requester only, with a conclusion; then no opinion and no read
    conclusion_id, _ = share(s, s.gp, FOR_GP)
    body = {"conclusion_record_id": conclusion_id}
    response = s.client.post(
        f"/consultations/{cid}/close", json=body, headers=s.login(s.cardiologist)
    )
    assert (response.status_code, error_code(response)) == (403, "not_allowed")
    response = s.client.post(f"/consultations/{cid}/close", json=body, headers=s.login(s.gp))
    assert response.status_code == 200, response.text
    closed = response.json()
    assert closed["state"] == "closed"
    assert closed["conclusion_record_id"] == conclusion_id
    assert [h["state"] for h in closed["history"]] == ["open", "closed"]
    late_id, _ = share(s, cast.county_cardiologist, FOR_GP)
    before = snapshot(s)
    response = opine(s, cast.county_cardiologist, cid, late_id)
    assert (response.status_code, error_code(response)) == (409, "invalid_transition")
    response = s.client.post(f"/consultations/{cid}/close", json=body, headers=s.login(s.gp))
    assert (response.status_code, error_code(response)) == (409, "invalid_transition")
    assert snapshot(s) == before
    assert read(s, cast.county_cardiologist, question_id, "consultation").status_code == 403
    assert read(s, s.gp, opinion_id, "consultation").status_code == 200  # the answer stays
    assert listed(s, s.cardiologist) == []
    assert listed(s, s.cardiologist, state="closed") == [cid]


def test_deadline_cancel_and_bad_requests(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    question_id, _ = share(s, s.gp, AUDIENCE)
    others_id, _ = share(s, s.gp, AUDIENCE, patient=s.other_patient)
    good = consultation_body(s, question_id=question_id, record_ids=[], deadline_in=20)

    before = snapshot(s)
    for changes, who, status, code in (
        ({"invited_institutions": [], "invited_policy": None}, s.gp, 422, "invalid_invitees"),
        ({"invited_institutions": ["nowhere"]}, s.gp, 422, "invalid_institution"),
        ({"invited_policy": "role:doctor and ("}, s.gp, 422, "invalid_policy"),
        ({"deadline": chain_time(s) - 1}, s.gp, 422, "invalid_deadline"),
        ({"record_ids": [others_id]}, s.gp, 422, "invalid_record"),
        ({"invited_institutions": ["cd3h", "pjxrmyy"]}, s.gp, 422, "consent_mismatch"),
        ({}, cast.nurse, 403, "not_a_clinician"),
    ):
        response = s.client.post("/consultations", json={**good, **changes}, headers=s.login(who))
        assert (response.status_code, error_code(response)) == (status, code), changes
        assert snapshot(s) == before, changes

    # the deadline passes (the dev chain's clock moves): no opinion, no read, not listed
    cid = open_consultation(s, good)["consultation_id"]
    assert read(s, s.cardiologist, question_id, "consultation").status_code == 200
    opinion_id, _ = share(s, s.cardiologist, FOR_GP)
    advance_chain_time(s, 30)
    before = snapshot(s)
    response = opine(s, s.cardiologist, cid, opinion_id)
    assert (response.status_code, error_code(response)) == (409, "deadline_passed")
    assert snapshot(s) == before
    assert read(s, s.cardiologist, question_id, "consultation").status_code == 403
    assert listed(s, s.cardiologist) == []

    # the requester cancels an open one; its records stop being served
    body2 = {
        **consultation_body(s, question_id=question_id, record_ids=[]),
        "consultation_id": "0x" + "c2" * 32,
    }
    cid2 = open_consultation(s, body2)["consultation_id"]
    head = s.w3.eth.block_number
    replay = s.client.post("/consultations", json=body2, headers=s.login(s.gp))
    assert replay.status_code == 200, replay.text  # a retry answers the same consultation
    assert replay.json()["consultation_id"] == cid2
    assert s.w3.eth.block_number == head
    assert read(s, cast.county_cardiologist, question_id, "consultation").status_code == 200
    url = f"/consultations/{cid2}/cancel"
    response = s.client.post(url, json={}, headers=s.login(s.cardiologist))
    assert (response.status_code, error_code(response)) == (403, "not_allowed")
    response = s.client.post(url, json={"reason": "resolved"}, headers=s.login(s.gp))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"
    assert response.json()["closing_reason"] == "resolved"
    assert read(s, cast.county_cardiologist, question_id, "consultation").status_code == 403
    unknown = s.client.get("/consultations/0x" + "ee" * 32, headers=s.login(s.gp))
    assert (unknown.status_code, error_code(unknown)) == (404, "consultation_not_found")
