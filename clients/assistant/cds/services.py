"""The three CDS services: what discovery says of them and how a hook call is answered.

- ``icd10-coding`` on the custom hook ``gp-diagnosis-entry`` (context: ``userId``,
  ``patientId``, ``diagnosisText``), called while the GP types a diagnosis;
- ``gp-intake`` on ``patient-view``: the intake travels in the request's extension
  ``cn.medledger.intake`` (``complaint``, ``answers``, ``present``, ``absent``, and ``age`` /
  ``sex`` unless the prefetched Patient gives them); without it there is nothing to say;
- ``gp-record`` on the custom hook ``gp-record-sign`` (context: ``userId``, ``patientId``,
  ``record``: the form), called before the GP signs the record.

Requests are validated against the CDS Hooks 2.0 request schema and the service's own context
rules; a hook that is not the service's is refused. Every card issued is recorded so feedback
can be checked against it (:mod:`clients.assistant.cds.store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from clients.assistant.cds.cards import OVERRIDE_SYSTEM, coding_card, intake_cards, record_card
from clients.assistant.cds.schemas import require_valid
from clients.assistant.cds.store import FeedbackStore, IssuedCard
from clients.assistant.coding.ranker import default_coder
from clients.assistant.errors import CdsRequestError, IntakeError
from clients.assistant.intake.engine import Intake, Patient
from clients.assistant.records.checks import check_form
from clients.assistant.records.document import build_document
from clients.assistant.records.form import parse_form

INTAKE_EXTENSION = "cn.medledger.intake"


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    prefetch: dict[str, str] | None = None
    usage: str | None = None

    def discovery(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
        }
        if self.prefetch:
            out["prefetch"] = self.prefetch
        if self.usage:
            out["usageRequirements"] = self.usage
        return out


SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            "icd10-coding",
            "gp-diagnosis-entry",
            "ICD-10编码建议 (ICD-10 coding suggestions)",
            "Ranks ICD-10 codes for a Chinese free-text diagnosis with the matched terms and the "
            "reason for each rank. Context: userId, patientId, diagnosisText. Suggestions only.",
            usage="Custom hook gp-diagnosis-entry; offline; no patient data leaves the call.",
        ),
        Service(
            "gp-intake",
            "patient-view",
            "辅助问诊：红旗征与鉴别诊断 (intake: red flags and differential)",
            "Red-flag rules and a ranked differential from a structured intake for the "
            f"presenting complaint, sent in the request extension {INTAKE_EXTENSION}.",
            prefetch={"patient": "Patient/{{context.patientId}}"},
        ),
        Service(
            "gp-record",
            "gp-record-sign",
            "病历书写质控 (outpatient record checks)",
            "Checks an outpatient record form against 病历书写基本规范 and offers its FHIR R4 "
            "document (Composition + ICD-10 Conditions). Context: userId, patientId, record.",
            usage="Custom hook gp-record-sign, called before the clinician signs.",
        ),
    )
}


def discovery() -> dict[str, Any]:
    return {"services": [s.discovery() for s in SERVICES.values()]}


def _context_str(context: dict[str, Any], key: str, limit: int = 256) -> str:
    value = context.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise CdsRequestError(
            f"context.{key} must be a non-empty string of at most {limit} characters"
        )
    return value


def _patient_from(request: dict[str, Any], intake: dict[str, Any]) -> Patient:
    age, sex = intake.get("age"), intake.get("sex")
    resource = (request.get("prefetch") or {}).get("patient")
    if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
        if sex is None and resource.get("gender") in ("male", "female"):
            sex = resource["gender"]
        if age is None and isinstance(resource.get("birthDate"), str):
            try:
                born = date.fromisoformat(resource["birthDate"][:10])
            except ValueError:
                raise CdsRequestError("prefetch.patient.birthDate is not a date") from None
            age = max(0.0, (date.today() - born).days / 365.25)
    if age is not None and (isinstance(age, bool) or not isinstance(age, int | float)):
        raise CdsRequestError(f"{INTAKE_EXTENSION}.age must be a number")
    return Patient(age=age, sex=sex)


def call(service_id: str, request: Any, store: FeedbackStore, base_url: str) -> dict[str, Any]:
    """Answer one hook call with cards (validated input, recorded output)."""
    service = SERVICES.get(service_id)
    if service is None:
        raise KeyError(service_id)
    require_valid("request", request)
    if request["hook"] != service.hook:
        raise CdsRequestError(
            f"service {service.id} answers hook {service.hook!r}, not {request['hook']!r}"
        )
    context = request["context"]
    patient_id = _context_str(context, "patientId")
    _context_str(context, "userId")
    cards: list[dict[str, Any]] = []
    if service.id == "icd10-coding":
        result = default_coder().suggest(_context_str(context, "diagnosisText", 200))
        card = coding_card(result, patient_id, base_url)
        cards = [card] if card else []
    elif service.id == "gp-intake":
        intake = (request.get("extension") or {}).get(INTAKE_EXTENSION)
        if intake is not None:
            if not isinstance(intake, dict) or not isinstance(intake.get("complaint"), str):
                raise CdsRequestError(f"extension {INTAKE_EXTENSION} needs a complaint")
            answers, present, absent = (intake.get(k) for k in ("answers", "present", "absent"))
            if not isinstance(answers or {}, dict) or not all(
                isinstance(x or [], list) and all(isinstance(i, str) for i in x or [])
                for x in (present, absent)
            ):
                raise IntakeError("answers must be an object, present and absent lists of findings")
            engine = Intake()
            assessment = engine.assess(
                intake["complaint"],
                answers=answers or {},
                patient=_patient_from(request, intake),
                present=present,
                absent=absent,
            )
            labels = {k: v[0] for k, v in engine.knowledge.findings.items()}
            cards = intake_cards(assessment, patient_id, base_url, labels)
    else:
        record = context.get("record")
        form = parse_form(record)
        if form.patient_id != patient_id:
            raise CdsRequestError("context.record.patient_id differs from context.patientId")
        result = check_form(form)
        document = build_document(form, check=False) if result.ok else None
        cards = [record_card(result.refusals, result.warnings, document, base_url)]
    store.record_cards(
        [
            IssuedCard(
                uuid=card["uuid"],
                service=service.id,
                hook_instance=request["hookInstance"],
                suggestions=tuple(s["uuid"] for s in card.get("suggestions", ())),
                override_reasons=tuple(
                    (OVERRIDE_SYSTEM, r["code"]) for r in card["overrideReasons"]
                ),
            )
            for card in cards
        ]
    )
    return {"cards": cards}


def feedback(service_id: str, body: Any, store: FeedbackStore) -> int:
    """Record a feedback body for a service; the number of new feedback items stored."""
    if service_id not in SERVICES:
        raise KeyError(service_id)
    require_valid("feedback", body)
    return store.add_feedback(service_id, body["feedback"])
