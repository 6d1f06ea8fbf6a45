"""The demo's two-way referral (双向转诊): up to the tertiary hospital, and back down.

Up: the community GP writes a referral letter under the receiving department's policy
(``org:cd3h and dept:cardiology``), the patient signs referral consents for the letter and the
echocardiography report, and the GP refers. "The information arrives before the patient":
the cardiologist reads both with purpose ``referral`` *before* accepting; then accepts, records
the arrival and completes with a discharge summary shared back to the GP, who reads it. After
completion the cardiologist's referral access has ended: reading the letter again is refused,
and the refusal is logged on chain like any other.

Down: the recovering patient goes back to the community centre for follow-up care: the
cardiologist writes the follow-up plan under ``org:qyqchc and dept:general_practice``, the
patient consents, the GP reads the plan before accepting, accepts, records the arrival and
completes with a follow-up note for the cardiologist.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from clients.demo import acts, cast, documents
from clients.demo.report import short
from clients.demo.scene import Scene
from clients.sdk import MedLedgerClient
from clients.sdk.workflow_models import ReferralInfo
from clients.sdk.workflows import referral_audience


def referral_up(story: Scene) -> None:
    """GP (qyqchc) → cd3h cardiology, with the patient's echo report; summary shared back."""
    patient = story.outcome.patient
    echo = next(r for r in story.outcome.records if r["record_type"] == "DiagnosticReport")
    with ExitStack() as stack:
        gp = acts.signed_in(story, stack, "gp")
        cardiologist = acts.signed_in(story, stack, "cardiologist")
        audience = referral_audience("cd3h", "cardiology")
        letter = acts.write(
            story,
            gp,
            "gp",
            documents.referral_letter_up(patient),
            policy=audience,
            action=f"writes a referral letter under '{audience}'",
        )
        record_ids = [letter.record_id, echo["record_id"]]
        entry = _entry(story, "up", "gp", "cd3h", "cardiology", record_ids)
        story.outcome.referrals.append(entry)
        made = _refer(story, gp, "gp", entry, audience, urgency="urgent")
        rid = made.referral_id
        acts.read(
            story,
            cardiologist,
            "cardiologist",
            letter.record_id,
            purpose="referral",
            action="reads the referral letter BEFORE accepting (the information arrives first)",
        )
        acts.read(
            story,
            cardiologist,
            "cardiologist",
            echo["record_id"],
            purpose="referral",
            action="reads the echo report the referral carries",
        )
        _finish(story, cardiologist, "cardiologist", entry, documents.discharge_summary(patient))
        acts.read(
            story,
            gp,
            "gp",
            entry["summary_record_id"],
            purpose="referral",
            action="reads the discharge summary shared back",
        )
        refused = acts.refused_read(
            story,
            cardiologist,
            "cardiologist",
            letter.record_id,
            purpose="referral",
            action="tries to read the referral letter again (after completion)",
        )
        if refused is not None:
            story.outcome.denied_reads["after_referral"] = {**refused, "referral_id": rid}


def referral_down(story: Scene) -> None:
    """cd3h cardiology → qyqchc general practice for follow-up care; a note shared back."""
    patient = story.outcome.patient
    with ExitStack() as stack:
        cardiologist = acts.signed_in(story, stack, "cardiologist")
        gp = acts.signed_in(story, stack, "gp")
        audience = referral_audience("qyqchc", "general_practice")
        plan = acts.write(
            story,
            cardiologist,
            "cardiologist",
            documents.follow_up_plan(patient),
            policy=audience,
            action=f"writes the follow-up plan under '{audience}'",
        )
        entry = _entry(
            story, "down", "cardiologist", "qyqchc", "general_practice", [plan.record_id]
        )
        story.outcome.referrals.append(entry)
        _refer(story, cardiologist, "cardiologist", entry, audience, urgency="routine")
        acts.read(
            story,
            gp,
            "gp",
            plan.record_id,
            purpose="referral",
            action="reads the follow-up plan before accepting",
        )
        _finish(story, gp, "gp", entry, documents.follow_up_note(patient))


def _entry(
    story: Scene, direction: str, sender: str, to: str, department: str, record_ids: list[str]
) -> dict[str, Any]:
    """The referral's line in the outcome, filled in as it moves (``--json``, the e2e test)."""
    return {
        "direction": direction,
        "requester": story.outcome.clinicians[sender],
        "from": cast.clinician(sender).institution,
        "to": to,
        "department": department,
        "record_ids": record_ids,
        "referral_id": None,
        "state": None,
        "tx": {},
        "summary_record_id": None,
    }


def _record(entry: dict[str, Any], info: ReferralInfo) -> None:
    entry["state"] = info.state
    entry["tx"][info.state] = acts.transition_tx(info)


def _refer(
    story: Scene,
    client: MedLedgerClient,
    who: str,
    entry: dict[str, Any],
    audience: str,
    *,
    urgency: str,
) -> ReferralInfo:
    """The patient signs one consent per record for ``audience``; ``who`` refers."""
    to, department = entry["to"], entry["department"]
    signed = acts.sign_consents(
        story,
        purpose="referral",
        audience=audience,
        record_ids=entry["record_ids"],
        about=acts.plural(len(entry["record_ids"]), "record"),
    )
    made = acts.move(
        story,
        who,
        f"refers the patient to {cast.institution_name(to)} {department.replace('_', ' ')} "
        f"({urgency})",
        lambda: client.create_referral(
            patient=story.outcome.patient,
            to_institution=to,
            department=department,
            reason_record_id=entry["record_ids"][0],
            record_ids=entry["record_ids"][1:],
            consents=signed,
            urgency=urgency,
        ),
        state="requested",
        observed=lambda r: (
            f"referral {short(r.referral_id)} requested, "
            + acts.plural(len(r.record_ids), "record")
        ),
    )
    entry["referral_id"] = made.referral_id
    _record(entry, made)
    return made


def _finish(
    story: Scene,
    client: MedLedgerClient,
    who: str,
    entry: dict[str, Any],
    summary: dict[str, Any],
) -> None:
    """The receiving doctor accepts, records the arrival, and completes with ``summary``
    shared back to the referring doctor (``uid:<requester>``; the patient is ORed in)."""
    rid = entry["referral_id"]
    place = cast.institution_name(entry["to"])
    _record(
        entry,
        acts.move(
            story,
            who,
            "accepts the referral",
            lambda: client.accept_referral(rid),
            state="accepted",
        ),
    )
    _record(
        entry,
        acts.move(
            story,
            who,
            f"records the patient's arrival at {place}",
            lambda: client.arrive(rid),
            state="arrived",
        ),
    )
    requester = str(entry["requester"])
    written = acts.write(
        story,
        client,
        who,
        summary,
        policy=f"uid:{requester.lower()}",
        action=f"writes the {summary['title']} for the referring doctor",
    )
    entry["summary_record_id"] = written.record_id
    done = acts.move(
        story,
        who,
        "completes the referral with it",
        lambda: client.complete_referral(rid, written.record_id),
        state="completed",
        observed=lambda r: f"completed, summary {short(r.summary_record_id)}",
    )
    _record(entry, done)
