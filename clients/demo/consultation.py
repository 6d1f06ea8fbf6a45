"""The demo's remote consultation (远程会诊): a GP asks two hospitals' cardiologists.

Back in the community, the GP asks whether the heart-failure therapy may be raised. She
writes the question under a policy only cardiologists of the two invited institutions meet,
the patient signs a consultation consent for the audience ``org:cd3h or org:pjxrmyy``, and
she invites 成都市第三人民医院 and 蒲江县人民医院 (the county hospital of the Pujiang model).
Each invited cardiologist reads the question with purpose ``consultation`` and posts a consult
note readable by the GP (and the patient); the GP closes with a conclusion, and an opinion
after the close is refused (409) with nothing sent to the chain.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from clients.demo import acts, cast, documents
from clients.demo.report import short
from clients.demo.scene import Scene
from clients.sdk import MedLedgerClient
from clients.sdk.workflow_models import ConsultationInfo
from clients.sdk.workflows import consultation_audience

INVITED = ("cd3h", "pjxrmyy")
# who may open the question: a cardiologist of an invited institution (the patient is ORed in)
QUESTION_POLICY = "role:doctor and dept:cardiology and (org:cd3h or org:pjxrmyy)"
OPINIONS = {
    "cardiologist": "Agree: bisoprolol 5 mg now (HR 76); raise sacubitril/valsartan after "
    "potassium and creatinine in 1 week; repeat echo in 3 months.",
    "county_cardiologist": "Agree with bisoprolol 5 mg; check orthostatic blood pressure "
    "first; the county hospital can repeat the echo locally.",
}


def consultation(story: Scene) -> None:
    patient = story.outcome.patient
    audience = consultation_audience(INVITED)
    places = " and ".join(cast.institution_name(code) for code in INVITED)
    entry: dict[str, Any] = {"invited": list(INVITED), "audience_policy": audience, "tx": {}}
    story.outcome.consultation = entry
    with ExitStack() as stack:
        gp = acts.signed_in(story, stack, "gp")
        question = acts.write(
            story,
            gp,
            "gp",
            documents.consultation_question(patient),
            policy=QUESTION_POLICY,
            action="writes the consultation question for the invited cardiologists",
        )
        entry["question_record_id"] = question.record_id
        signed = acts.sign_consents(
            story,
            purpose="consultation",
            audience=audience,
            record_ids=[question.record_id],
            about="the question",
        )
        made = acts.move(
            story,
            "gp",
            f"asks {places} for a remote consultation (3 days)",
            lambda: gp.create_consultation(
                patient=patient,
                question_record_id=question.record_id,
                invited_institutions=list(INVITED),
                consents=signed,
            ),
            state="open",
            observed=lambda c: (
                f"consultation {short(c.consultation_id)} open, "
                f"{len(c.invited_institutions)} institutions invited"
            ),
        )
        cid = made.consultation_id
        entry.update(consultation_id=cid, state=made.state, opinions=[])
        entry["tx"]["open"] = acts.transition_tx(made)
        invited = {who: acts.signed_in(story, stack, who) for who in OPINIONS}
        for who, client in invited.items():
            _opine(story, client, who, entry, question.record_id)
        conclusion = acts.write(
            story,
            gp,
            "gp",
            documents.conclusion(patient),
            policy=f"uid:{gp_address(story)}",
            action="writes the consultation's conclusion",
        )
        closed = acts.move(
            story,
            "gp",
            "closes the consultation with it",
            lambda: gp.close_consultation(cid, conclusion.record_id),
            state="closed",
            observed=lambda c: f"closed with {c.opinion_count} opinions",
        )
        entry.update(
            state=closed.state,
            opinion_count=closed.opinion_count,
            conclusion_record_id=conclusion.record_id,
        )
        entry["tx"]["closed"] = acts.transition_tx(closed)
        _late_opinion(story, invited["county_cardiologist"], entry)


def gp_address(story: Scene) -> str:
    return story.outcome.clinicians["gp"].lower()


def _opine(
    story: Scene, client: MedLedgerClient, who: str, entry: dict[str, Any], question: str
) -> None:
    """``who`` reads the question and posts a consult note only the GP and patient open."""
    place = cast.institution_name(cast.clinician(who).institution)
    acts.read(
        story,
        client,
        who,
        question,
        purpose="consultation",
        action=f"reads the consultation question (invited: {place})",
    )
    resource = documents.opinion(
        story.outcome.patient,
        ident=f"opinion-{who.replace('_', '-')}",
        author=f"{cast.clinician(who).name} 心内科 {place}",
        text=OPINIONS[who],
    )
    note = acts.write(
        story,
        client,
        who,
        resource,
        policy=f"uid:{gp_address(story)}",
        action="writes a consult note for the GP",
    )
    me = story.outcome.clinicians[who].lower()

    def my_opinion_tx(info: ConsultationInfo) -> str | None:
        return next((o.tx_hash for o in info.opinions if o.author.lower() == me), None)

    answered = acts.move(
        story,
        who,
        "posts it as an opinion",
        lambda: client.submit_opinion(entry["consultation_id"], note.record_id),
        state="open",
        observed=lambda c: f"opinion {c.opinion_count} of the consultation",
        tx=my_opinion_tx,
    )
    entry["opinions"].append(
        {
            "author": story.outcome.clinicians[who],
            "record_id": note.record_id,
            "tx_hash": my_opinion_tx(answered),
        }
    )


def _late_opinion(story: Scene, client: MedLedgerClient, entry: dict[str, Any]) -> None:
    """After the close even an invited cardiologist's opinion is refused (409)."""
    who = "county_cardiologist"
    record_id = entry["opinions"][-1]["record_id"]
    entry["late_opinion"] = acts.refused_move(
        story,
        who,
        "tries to post an opinion after the close",
        lambda: client.submit_opinion(entry["consultation_id"], record_id),
        code="invalid_transition",
    )
