"""The auditor's last look: the referrals and the consultation, read from the chain.

Like the access log (:mod:`clients.demo.audit`), the workflows are checked on the record
itself — the ``Workflow`` contract's events and views — not on what the API said: both
referrals went requested → accepted → arrived → completed, the consultation is closed with
two opinions from two institutions, the cardiologist read the referral letter before
accepting it, and her read after the completion was denied and logged. Then the API's
account of the same workflows (their history and opinions, which an auditor may list but
never open) must name exactly the chain's transactions.
"""

from __future__ import annotations

from typing import Any

from clients.demo import cast
from clients.demo.chain_view import (
    WorkflowEvent,
    access_events_since,
    consultation_state,
    referral_state,
    workflow_events,
)
from clients.demo.report import short
from clients.demo.scene import Scene
from clients.sdk.errors import ClientError

REFERRAL_PATH = ["ReferralRequested", "ReferralAccepted", "ReferralArrived", "ReferralCompleted"]


def audit_workflows(story: Scene) -> None:
    person = cast.clinician("auditor")
    action = "reads the referrals and the consultation from the chain (Workflow)"
    expected = "2 referrals completed; consultation closed with 2 opinions; late read denied"
    referrals = [r for r in story.outcome.referrals if r.get("referral_id")]
    consultation = story.outcome.consultation
    ids = [r["referral_id"] for r in referrals]
    if consultation.get("consultation_id"):
        ids.append(consultation["consultation_id"])
    if not ids:
        story.report.step(person.label, action, expected=expected, observed="no workflow", ok=False)
        return
    deployment = story.stack.deployment
    events = workflow_events(story.w3, deployment, story.first_block, ids)
    _table(story, events, referrals)
    problems = [p for r in referrals for p in _check_referral(story, r, events)]
    if len(referrals) != 2:
        problems.append(f"{len(referrals)} referrals made, not 2")
    problems += _check_consultation(story, consultation, events)
    problems += _check_reads(story, referrals, events)
    observed = (
        f"{sum(e.name == 'ReferralCompleted' for e in events)} referrals completed, "
        f"{sum(e.name == 'ConsultationOpinionSubmitted' for e in events)} opinions, "
        f"{sum(e.name == 'ConsultationClosed' for e in events)} closed"
        + (f"; {'; '.join(problems)}" if problems else ", as expected")
    )
    story.report.step(person.label, action, expected=expected, observed=observed, ok=not problems)
    _compare_api(story, person, events, referrals, consultation)


def _compare_api(
    story: Scene,
    person: cast.Clinician,
    events: list[WorkflowEvent],
    referrals: list[dict[str, Any]],
    consultation: dict[str, Any],
) -> None:
    """The API's history of each workflow must hold exactly its transactions on chain."""
    action = "compares the API's workflow history with the chain"
    expected = "the same transactions"
    chain = {(e.workflow_id, e.tx_hash) for e in events}
    api: set[tuple[str, str]] = set()
    try:
        with story.client_for("auditor") as client:
            client.login()
            for referral in referrals:
                rid = referral["referral_id"].lower()
                api |= {(rid, t.tx_hash.lower()) for t in client.referral(rid).history}
            if consultation.get("consultation_id"):
                cid = consultation["consultation_id"].lower()
                shown = client.consultation(cid)
                api |= {(cid, t.tx_hash.lower()) for t in shown.history}
                api |= {(cid, o.tx_hash.lower()) for o in shown.opinions}
    except ClientError as exc:
        story.report.step(
            person.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    ok = api == chain
    observed = f"{len(api)} in the API, {len(chain)} on chain" + ("" if ok else ", MISMATCH")
    story.report.step(person.label, action, expected=expected, observed=observed, ok=ok)


def _table(story: Scene, events: list[WorkflowEvent], referrals: list[dict[str, Any]]) -> None:
    names = {
        address.lower(): cast.clinician(key).short
        for key, address in story.outcome.clinicians.items()
    }
    which = {r["referral_id"].lower(): f"referral {r['direction']}" for r in referrals}
    rows = [
        (
            str(e.block_number),
            which.get(e.workflow_id, "consultation"),
            e.name.removeprefix("Referral").removeprefix("Consultation"),
            names.get(e.actor.lower(), short(e.actor)),
            short(e.tx_hash),
        )
        for e in events
    ]
    story.report.table(
        "Referrals and consultation, read from the chain (Workflow events)",
        ("block", "workflow", "event", "actor", "tx"),
        rows,
    )


def _check_referral(
    story: Scene, referral: dict[str, Any], events: list[WorkflowEvent]
) -> list[str]:
    rid = referral["referral_id"].lower()
    path = [e.name for e in events if e.workflow_id == rid]
    problems = []
    if path != REFERRAL_PATH:
        problems.append(f"referral {referral['direction']} events: {', '.join(path) or 'none'}")
    state = referral_state(story.w3, story.stack.deployment, rid)
    if state != "completed":
        problems.append(f"referral {referral['direction']} is {state} on chain")
    return problems


def _check_consultation(
    story: Scene, consultation: dict[str, Any], events: list[WorkflowEvent]
) -> list[str]:
    cid = str(consultation.get("consultation_id") or "").lower()
    if not cid:
        return ["no consultation made"]
    state, opinions = consultation_state(story.w3, story.stack.deployment, cid)
    problems = []
    if (state, opinions) != ("closed", 2):
        problems.append(f"consultation {state} with {opinions} opinions on chain")
    authors = {
        e.actor.lower()
        for e in events
        if e.workflow_id == cid and e.name == "ConsultationOpinionSubmitted"
    }
    invited = {story.outcome.clinicians[k].lower() for k in ("cardiologist", "county_cardiologist")}
    if authors != invited:
        problems.append("the opinions are not the two invited cardiologists'")
    return problems


def _check_reads(
    story: Scene, referrals: list[dict[str, Any]], events: list[WorkflowEvent]
) -> list[str]:
    """The receiving cardiologist read the letter before accepting and was refused after."""
    up = next((r for r in referrals if r["direction"] == "up"), None)
    if up is None:
        return []
    rid, letter = up["referral_id"].lower(), up["record_ids"][0].lower()
    cardiologist = story.outcome.clinicians["cardiologist"].lower()
    at = {e.name: (e.block_number, e.log_index) for e in events if e.workflow_id == rid}
    reads = [
        e
        for e in access_events_since(story.w3, story.stack.deployment, story.first_block, [letter])
        if e.accessor.lower() == cardiologist and e.purpose == "referral"
    ]
    accepted, completed = at.get("ReferralAccepted"), at.get("ReferralCompleted")
    problems = []
    if accepted is None or not any(
        e.granted and (e.block_number, e.log_index) < accepted for e in reads
    ):
        problems.append("no granted read of the letter before the acceptance")
    after = [
        e for e in reads if completed is not None and (e.block_number, e.log_index) > completed
    ]
    if not after or any(e.granted for e in after):
        problems.append("no denied read of the letter after the completion")
    return problems
