"""Two-way referrals through the API: the state machine, refusals, work lists and history.

The community GP (qyqchc) refers the patient up to cd3h cardiology. Every action is tried by
every party in every state; a refusal must answer 403 (wrong party) or 409 (wrong state) and
leave the chain head and the index exactly as they were. SQLite only here (the PostgreSQL run
is ``test_referrals_smoke``).
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from crypto.signing import Purpose
from ledger_api.chain.workflow import ReferralStatus
from ledger_api.services.referrals import RULES
from storage.models import Referral, WorkflowTransition
from storage.models.workflow import WorkflowDetail, WorkflowRecord
from tests.api.conftest import Stack
from tests.api.workflow_support import (
    consent_request,
    enrol_cast,
    error_code,
    read,
    share,
    snapshot,
)

DEPT_POLICY = "org:cd3h and dept:cardiology"


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def referral_body(
    stack: Stack, *, reason_id: str, record_ids: list[str], whole_chart: bool = False
) -> dict[str, Any]:
    carried = [reason_id, *record_ids]
    if whole_chart:
        consents = [consent_request(stack, policy=DEPT_POLICY, purpose=Purpose.REFERRAL)]
    else:
        consents = [
            consent_request(stack, policy=DEPT_POLICY, purpose=Purpose.REFERRAL, record_id=r)
            for r in carried
        ]
    return {
        "patient": stack.patient.address,
        "to_institution": "cd3h",
        "department": "cardiology",
        "urgency": "urgent",
        "reason_record_id": reason_id,
        "record_ids": record_ids,
        "consents": consents,
    }


def create(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = stack.client.post("/referrals", json=body, headers=stack.login(stack.gp))
    assert response.status_code == 201, response.text
    return dict(response.json())


def act(stack: Stack, who: Any, rid: str, action: str, body: dict[str, Any] | None = None) -> Any:
    return stack.client.post(
        f"/referrals/{rid}/{action}", json=body or {}, headers=stack.login(who)
    )


def new_referral(stack: Stack, reason_id: str) -> str:
    return str(
        create(stack, referral_body(stack, reason_id=reason_id, record_ids=[]))["referral_id"]
    )


# the legal moves: (action, party) from each state, per issue 7 and the contract
LEGAL = {
    ("requested", "accept", "cardiologist"),
    ("requested", "reject", "cardiologist"),
    ("requested", "cancel", "gp"),
    ("accepted", "arrive", "cardiologist"),
    ("accepted", "arrive", "nurse"),
    ("accepted", "complete", "cardiologist"),
    ("arrived", "complete", "cardiologist"),
}
# neurologist: a cd3h doctor of another department (an institution-level move is theirs too)
PARTIES = ("gp", "cardiologist", "nurse", "county_cardiologist", "patient", "auditor")
STATES = ("requested", "accepted", "arrived", "completed", "rejected", "cancelled")


def expected(state: str, action: str, party: str) -> int:
    rule = RULES[action]
    if rule.party == "requester":
        right = party == "gp"
    else:
        right = party == "cardiologist" or (rule.nurse_ok and party == "nurse")
    if not right:
        return 403
    allowed = {s.name.lower() for s in rule.from_states}
    return 200 if state in allowed else 409


def test_the_table_matches_issue_7() -> None:
    legal = {(s, a, p) for s in STATES for a in RULES for p in PARTIES if expected(s, a, p) == 200}
    assert legal == LEGAL
    assert RULES["complete"].from_states == (ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED)


def test_every_transition_by_every_party(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    people = cast.people()
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    # a summary is written after its referral was accepted (issue 14); this one only serves
    # the refused moves below, which are refused for their party or state first
    summary_id, _ = share(s, s.cardiologist, "org:qyqchc or org:cd3h")

    # every legal move, each through the API, by the party the table names
    in_state: dict[str, str] = {}
    done: set[tuple[str, str, str]] = set()

    def move(rid: str, state: str, action: str, party: str, body: Any = None) -> dict[str, Any]:
        response = act(s, people[party], rid, action, body)
        assert response.status_code == 200, (state, action, party, response.text)
        done.add((state, action, party))
        return dict(response.json())

    in_state["requested"] = new_referral(s, reason_id)
    rid = new_referral(s, reason_id)
    move(rid, "requested", "accept", "cardiologist")
    in_state["accepted"] = rid
    rid = new_referral(s, reason_id)
    move(rid, "requested", "accept", "cardiologist")
    move(rid, "accepted", "arrive", "cardiologist")
    in_state["arrived"] = rid
    rid = new_referral(s, reason_id)
    move(rid, "requested", "accept", "cardiologist")
    move(rid, "accepted", "arrive", "nurse")
    written, _ = share(s, s.cardiologist, "org:qyqchc or org:cd3h")
    view = move(rid, "arrived", "complete", "cardiologist", {"summary_record_id": written})
    assert view["summary_record_id"] == written
    in_state["completed"] = rid
    rid = new_referral(s, reason_id)
    move(rid, "requested", "accept", "cardiologist")
    written, _ = share(s, s.cardiologist, "org:qyqchc or org:cd3h")
    move(rid, "accepted", "complete", "cardiologist", {"summary_record_id": written})
    rid = new_referral(s, reason_id)
    before = snapshot(s)
    for bad, code in (({}, "reason_required"), ({"reason": "é" * 17}, "invalid_reason")):
        response = act(s, s.cardiologist, rid, "reject", bad)
        assert (response.status_code, error_code(response)) == (422, code)
    assert snapshot(s) == before
    view = move(rid, "requested", "reject", "cardiologist", {"reason": "no_capacity"})
    assert view["closing_reason"] == "no_capacity"
    in_state["rejected"] = rid
    rid = new_referral(s, reason_id)
    move(rid, "requested", "cancel", "gp", {"reason": "patient_declined"})
    in_state["cancelled"] = rid
    assert done == LEGAL

    # every other move is refused and changes nothing, on chain or in the index
    before = snapshot(s)
    refused = 0
    for state, rid in in_state.items():
        assert s.client.get(f"/referrals/{rid}", headers=s.login(s.gp)).json()["state"] == state
        for action in RULES:
            for party in PARTIES:
                want = expected(state, action, party)
                if want == 200:
                    continue
                body = {"summary_record_id": summary_id} if action == "complete" else {}
                response = act(s, people[party], rid, action, body)
                assert response.status_code == want, (state, action, party, response.text)
                code = "not_allowed" if want == 403 else "invalid_transition"
                assert error_code(response) == code
                if want == 409:
                    details = response.json()["error"]["details"]
                    assert details["state"] == state
                refused += 1
        assert snapshot(s) == before
    assert refused == len(STATES) * len(RULES) * len(PARTIES) - len(LEGAL)

    unknown = "0x" + "ab" * 32
    response = act(s, s.cardiologist, unknown, "accept")
    assert (response.status_code, error_code(response)) == (404, "referral_not_found")
    response = act(s, s.cardiologist, "0x1234", "accept")
    assert (response.status_code, error_code(response)) == (422, "invalid_referral_id")
    assert snapshot(s) == before


def test_history_work_lists_and_visibility(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    labs_id, _ = share(s, s.gp, DEPT_POLICY)
    view = create(s, referral_body(s, reason_id=reason_id, record_ids=[labs_id]))
    rid = view["referral_id"]
    assert view["state"] == "requested"
    assert view["record_ids"] == [reason_id, labs_id]
    assert view["department"] == "cardiology"
    assert view["urgency"] == "urgent"
    assert view["from_institution"] == s.qyqchc
    assert view["to_institution"] == s.cd3h
    assert len(view["consent_ids"]) == 2
    accepted = act(s, s.cardiologist, rid, "accept").json()

    # the history is the chain's: each transition's tx hash is a mined Workflow transaction
    history = accepted["history"]
    assert [(h["event"], h["state"]) for h in history] == [
        ("ReferralRequested", "requested"),
        ("ReferralAccepted", "accepted"),
    ]
    assert [h["actor"] for h in history] == [s.gp.address, s.cardiologist.address]
    for step in history:
        receipt = s.w3.eth.get_transaction_receipt(step["tx_hash"])
        assert receipt["status"] == 1
        assert receipt["blockNumber"] == step["block_number"]
        assert receipt["to"] == s.deployment.address("Workflow")
    on_chain = s.ctx.chain.workflow.referral_of(bytes.fromhex(rid[2:]))
    assert on_chain.status == ReferralStatus.ACCEPTED
    assert "0x" + on_chain.record_id.hex() == reason_id
    s.wait_indexed()  # the indexer replaying the same blocks changes nothing
    again = s.client.get(f"/referrals/{rid}", headers=s.login(s.gp)).json()
    assert again["history"] == history

    # work lists: incoming for cd3h, outgoing for qyqchc, the patient's own
    def listed(who: Any, **params: Any) -> list[str]:
        response = s.client.get("/referrals", params=params, headers=s.login(who))
        assert response.status_code == 200, response.text
        return [i["referral_id"] for i in response.json()["items"]]

    assert listed(s.cardiologist, direction="incoming") == [rid]
    assert listed(s.cardiologist, direction="outgoing") == []
    assert listed(s.gp, direction="outgoing", state="accepted") == [rid]
    assert listed(s.gp, state="open") == [rid]
    assert listed(s.gp, state="completed") == []
    assert listed(s.patient) == [rid]
    assert listed(s.auditor, institution="qyqchc") == [rid]
    assert listed(cast.county_cardiologist) == []
    response = s.client.get(
        "/referrals", params={"institution": "cd3h"}, headers=s.login(cast.county_cardiologist)
    )
    assert response.status_code == 403
    for who in (s.gp, s.cardiologist, s.patient, s.auditor):
        assert s.client.get(f"/referrals/{rid}", headers=s.login(who)).status_code == 200
    for who in (cast.county_cardiologist, s.other_patient):
        assert s.client.get(f"/referrals/{rid}", headers=s.login(who)).status_code == 403
    assert s.client.get(f"/referrals/{rid}").status_code == 401


def test_bad_requests_write_nothing(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    labs_id, _ = share(s, s.gp, DEPT_POLICY)
    others_id, _ = share(s, s.gp, DEPT_POLICY, patient=s.other_patient)
    good = referral_body(s, reason_id=reason_id, record_ids=[labs_id])
    gp_policy = "org:cd3h and dept:neurology"

    def variant(**changes: Any) -> dict[str, Any]:
        return {**good, **changes}

    cases: list[tuple[str, Any, dict[str, Any], int, str]] = [
        ("nurse requests", cast.nurse, good, 403, "not_a_clinician"),
        ("patient requests", s.patient, good, 403, "not_a_clinician"),
        ("to own institution", s.gp, variant(to_institution=s.qyqchc), 422, "invalid_institution"),
        (
            "unknown institution",
            s.gp,
            variant(to_institution="nowhere"),
            422,
            "invalid_institution",
        ),
        ("bad urgency", s.gp, variant(urgency="whenever"), 422, "invalid_request"),
        ("bad department", s.gp, variant(department="a b"), 422, "invalid_department"),
        ("unknown record", s.gp, variant(record_ids=["0x" + "cd" * 32]), 422, "unknown_record"),
        ("other patient's", s.gp, variant(record_ids=[others_id]), 422, "invalid_record"),
        ("no consent", s.gp, variant(consents=[]), 422, "consent_required"),
        (
            "consent misses a record",
            s.gp,
            variant(consents=good["consents"][:1]),
            422,
            "consent_missing",
        ),
        (
            "consent for another department",
            s.gp,
            variant(
                consents=[
                    consent_request(s, policy=gp_policy, purpose=Purpose.REFERRAL, record_id=r)
                    for r in (reason_id, labs_id)
                ]
            ),
            422,
            "consent_mismatch",
        ),
        (
            "consent for treatment",
            s.gp,
            variant(consents=[consent_request(s, policy=DEPT_POLICY, purpose=Purpose.TREATMENT)]),
            422,
            "consent_mismatch",
        ),
        (
            "consent not signed by the patient",
            s.gp,
            variant(
                consents=[
                    consent_request(
                        s, policy=DEPT_POLICY, purpose=Purpose.REFERRAL, signer=s.other_patient
                    )
                ]
            ),
            400,
            "bad_signature",
        ),
    ]
    before = snapshot(s)
    for name, who, body, status, code in cases:
        response = s.client.post("/referrals", json=body, headers=s.login(who))
        assert (response.status_code, error_code(response)) == (status, code), (name, response.text)
        assert snapshot(s) == before, name
    wrong = s.client.post("/referrals", json=variant(department="neurology"), headers=s.login(s.gp))
    assert error_code(wrong) == "consent_mismatch"
    assert wrong.json()["error"]["details"]["expected_policy"] == "dept:neurology and org:cd3h"

    # consents relayed by an attempt that died before the referral are not sent again
    for consent in good["consents"]:
        assert s.client.post("/consents", json=consent, headers=s.login(s.gp)).status_code == 201
    # the body goes through; the same body again (a retry after a lost answer) answers the
    # same referral with 200 and sends nothing
    once = variant(referral_id="0x" + "42" * 32)
    created = create(s, once)
    assert created["referral_id"] == "0x" + "42" * 32
    after = snapshot(s)
    replay = s.client.post("/referrals", json=once, headers=s.login(s.gp))
    assert replay.status_code == 200, replay.text
    assert replay.json() == created
    assert snapshot(s) == after
    # ... and repairs the index rows of a request whose answer and rows were lost
    with s.ctx.sessions() as db:
        for model, column in (
            (WorkflowRecord, WorkflowRecord.workflow_id),
            (WorkflowDetail, WorkflowDetail.workflow_id),
            (WorkflowTransition, WorkflowTransition.workflow_id),
            (Referral, Referral.referral_id),
        ):
            db.execute(sa.delete(model).where(column == created["referral_id"]))
        db.commit()
    assert read(s, s.cardiologist, reason_id, "referral").status_code == 403
    replay = s.client.post("/referrals", json=once, headers=s.login(s.gp))
    assert replay.status_code == 200, replay.text
    assert replay.json() == created
    assert read(s, s.cardiologist, reason_id, "referral").status_code == 200
    retry = variant(
        referral_id="0x" + "42" * 32,
        consents=[consent_request(s, policy=DEPT_POLICY, purpose=Purpose.REFERRAL)],
    )
    after = snapshot(s)
    response = s.client.post("/referrals", json=retry, headers=s.login(s.gp))
    assert (response.status_code, error_code(response)) == (409, "duplicate_id")
    assert snapshot(s) == after
