"""The checked form as a FHIR R4 document: a Bundle with a Composition and coded Conditions.

The Bundle is of type ``document`` (its first entry the Composition, every reference resolving
inside it through ``urn:uuid`` full URLs, an identifier and a timestamp, as FHIR requires of a
document). The Composition is LOINC 34108-1 "Outpatient Note" with one section per part of the
record (LOINC section codes), the narrative of each section escaped into XHTML. Each
初步诊断 is a Condition coded in ICD-10 (``http://hl7.org/fhir/sid/icd-10``) with the table's
Chinese name as display, verification status ``provisional`` (or ``unconfirmed`` when marked
uncertain), category ``encounter-diagnosis``.

Validation uses ``fhir.resources``' R4B models, as the SDK does (R4B is the closest release to
R4 it ships: see ``clients/fhir.py``); a document that fails is a bug here, raised as
:class:`RecordFormError` rather than shared.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from clients.assistant.coding.table import IcdTable, default_table
from clients.assistant.errors import RecordFormError, Refusal
from clients.assistant.records.checks import require_valid
from clients.assistant.records.form import OutpatientRecord

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
PATIENT_SYSTEM = "urn:medledger:patient"
SECTION_CODES: dict[str, tuple[str, str]] = {
    "chief_complaint": ("10154-3", "Chief complaint Narrative - Reported"),
    "present_illness": ("10164-2", "History of Present illness Narrative"),
    "past_history": ("11348-0", "History of Past illness Narrative"),
    "physical_exam": ("29545-1", "Physical findings Narrative"),
    "auxiliary_exam": ("30954-2", "Relevant diagnostic tests/laboratory data Narrative"),
    "diagnoses": ("29548-5", "Diagnosis Narrative"),
    "plan": ("18776-5", "Plan of care note"),
}
SECTION_TITLES = {
    "chief_complaint": "主诉",
    "present_illness": "现病史",
    "past_history": "既往史",
    "physical_exam": "体格检查",
    "auxiliary_exam": "辅助检查",
    "diagnoses": "初步诊断",
    "plan": "处理意见",
}


def _div(text: str) -> str:
    lines = "<br/>".join(html.escape(line) for line in text.splitlines() or [""])
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{lines}</div>'


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def build_document(
    form: OutpatientRecord,
    *,
    table: IcdTable | None = None,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    check: bool = True,
) -> dict[str, Any]:
    """The FHIR R4 document Bundle for a form (checked first unless ``check`` is False)."""
    if check:
        require_valid(form)
    table = table or default_table()
    ids = {name: new_id() for name in ("bundle", "composition", "patient", "practitioner")}
    patient_ref = {"reference": f"urn:uuid:{ids['patient']}"}
    author_ref = {"reference": f"urn:uuid:{ids['practitioner']}", "display": form.author_name}
    when = form.visit_time.isoformat()
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": ids["patient"],
        "identifier": [{"system": PATIENT_SYSTEM, "value": form.patient_id}],
    }
    if form.patient_name:
        patient["name"] = [{"text": form.patient_name}]
    if form.sex:
        patient["gender"] = form.sex
    if form.birth_date:
        patient["birthDate"] = form.birth_date.isoformat()
    practitioner: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": ids["practitioner"],
        "name": [{"text": form.author_name}],
    }
    if form.author_id:
        practitioner["identifier"] = [{"system": "urn:medledger:member", "value": form.author_id}]
    conditions = []
    for diagnosis in form.diagnoses:
        code = (diagnosis.code or "").strip().upper()
        entry = table.entries[code]
        conditions.append(
            {
                "resourceType": "Condition",
                "id": new_id(),
                "clinicalStatus": {
                    "coding": [
                        _coding(
                            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active"
                        )
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        _coding(
                            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            "unconfirmed" if diagnosis.uncertain else "provisional",
                        )
                    ]
                },
                "category": [
                    {
                        "coding": [
                            _coding(
                                "http://terminology.hl7.org/CodeSystem/condition-category",
                                "encounter-diagnosis",
                                "Encounter Diagnosis",
                            )
                        ]
                    }
                ],
                "code": {"coding": [_coding(ICD10, code, entry.zh)], "text": diagnosis.text},
                "subject": patient_ref,
                "recordedDate": when,
                "recorder": author_ref,
            }
        )
    sections = []
    for field, (code, display) in SECTION_CODES.items():
        section: dict[str, Any] = {
            "title": SECTION_TITLES[field],
            "code": {"coding": [_coding(LOINC, code, display)]},
        }
        if field == "diagnoses":
            text = "\n".join(
                f"{i}. {d.text}（{(d.code or '').upper()}）{'？' if d.uncertain else ''}"
                for i, d in enumerate(form.diagnoses, 1)
            )
            section["entry"] = [{"reference": f"urn:uuid:{c['id']}"} for c in conditions]
        else:
            text = getattr(form, field)
        section["text"] = {"status": "generated", "div": _div(text)}
        sections.append(section)
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "id": ids["composition"],
        "language": "zh-CN",
        "status": "final",
        "type": {"coding": [_coding(LOINC, "34108-1", "Outpatient Note")], "text": "门诊病历"},
        "subject": patient_ref,
        "date": when,
        "author": [author_ref],
        "title": f"门诊病历 {form.department}",
        "section": sections,
    }
    resources = [composition, patient, practitioner, *conditions]
    bundle = {
        "resourceType": "Bundle",
        "id": ids["bundle"],
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{ids['bundle']}"},
        "type": "document",
        "timestamp": when,
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
    validate_r4(bundle)
    return bundle


def validate_r4(resource: dict[str, Any]) -> None:
    """Validate with the R4B models of ``fhir.resources``; :class:`RecordFormError` if not."""
    from fhir.resources.R4B import get_fhir_model_class  # heavy import: only when used

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        raise RecordFormError(
            [Refusal("(document)", "fhir-invalid", str(exc).splitlines()[0])]
        ) from None
