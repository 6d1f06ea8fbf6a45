"""What the client reads out of a FHIR resource: its clinical date and a one-line summary.

The **clinical date** is the only clinical field that leaves the client in clear (the index
entry of the record, so the patient's timeline can be put in clinical order): when the care
happened, by the element FHIR defines for it per resource type — an Observation's
``effective[x]`` (else ``issued``), an Encounter's ``period.start``, a Bundle's ``timestamp``
(else its newest entry's date, else ``meta.lastUpdated``) and so on. Values the API would
refuse (not a FHIR date / dateTime) are dropped rather than sent.

The **summary** is computed after decryption, on the reader's machine, for the timeline:
e.g. ``Hemoglobin [Mass/volume] in Blood: 13.5 g/dL``. It never goes to the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crypto.record_dates import check_record_date, record_date_seconds

__all__ = ["clinical_date", "summary"]

# element paths in order of preference; the first one present wins
_DATE_PATHS: dict[str, tuple[str, ...]] = {
    "Observation": (
        "effectiveDateTime",
        "effectiveInstant",
        "effectivePeriod.start",
        "effectiveTiming.event",
        "issued",
    ),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "Encounter": ("period.start",),
    "Condition": ("onsetDateTime", "onsetPeriod.start", "recordedDate"),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "MedicationRequest": ("authoredOn",),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod.start", "dateAsserted"),
    "MedicationAdministration": ("effectiveDateTime", "effectivePeriod.start"),
    "Immunization": ("occurrenceDateTime", "recorded"),
    "AllergyIntolerance": ("onsetDateTime", "recordedDate"),
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
    "DocumentReference": ("date",),
    "Composition": ("date",),
    "ImagingStudy": ("started",),
    "CarePlan": ("period.start", "created"),
}
_FALLBACK_PATHS = (
    "effectiveDateTime",
    "effectivePeriod.start",
    "occurrenceDateTime",
    "period.start",
    "issued",
    "date",
    "authoredOn",
    "recordedDate",
)


def clinical_date(resource: dict[str, Any]) -> str | None:
    """The resource's clinical date as given in it (a FHIR date / dateTime), or None."""
    kind = resource.get("resourceType")
    if kind == "Bundle":
        found = _checked(resource.get("timestamp"))
        if found is None:
            dates = [clinical_date(e.get("resource") or {}) for e in _entries(resource)]
            found = max((d for d in dates if d), key=record_date_seconds, default=None)
        return found or _checked(_get(resource, "meta.lastUpdated"))
    for path in _DATE_PATHS.get(str(kind), _FALLBACK_PATHS):
        found = _checked(_get(resource, path))
        if found is not None:
            return found
    return _checked(_get(resource, "meta.lastUpdated"))


def _checked(value: Any) -> str | None:
    if isinstance(value, list):  # Timing.event: the first occurrence
        value = value[0] if value else None
    if not isinstance(value, str):
        return None
    try:
        return check_record_date(value)
    except ValueError:
        return None


def _get(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _entries(bundle: dict[str, Any]) -> Iterable[dict[str, Any]]:
    entries = bundle.get("entry")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


# --------------------------------------------------------------------------- summaries


def summary(resource: dict[str, Any], *, max_chars: int = 120) -> str:
    """One line saying what the resource is (computed locally, after decryption)."""
    text = _summary(resource)
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _summary(resource: dict[str, Any]) -> str:
    kind = str(resource.get("resourceType") or "resource")
    if kind == "Bundle":
        entries = [e.get("resource") or {} for e in _entries(resource)]
        parts = [_summary(r) for r in entries[:3]]
        more = f"; +{len(entries) - 3} more" if len(entries) > 3 else ""
        head = f"Bundle ({resource.get('type') or '?'}, {len(entries)} entries)"
        return f"{head}: {'; '.join(parts)}{more}" if parts else head
    name = _concept(resource.get("code")) or _concept(_first(resource.get("type")))
    if kind == "Observation":
        value = _value(resource)
        if value is None and isinstance(resource.get("component"), list):
            values = [
                f"{_concept(c.get('code')) or '?'} {_value(c) or '?'}"
                for c in resource["component"]
                if isinstance(c, dict)
            ]
            value = ", ".join(values) or None
        return f"{name or 'Observation'}: {value or '(no value)'}"
    if kind == "DiagnosticReport":
        conclusion = resource.get("conclusion")
        return f"{name or 'Report'}" + (f": {conclusion}" if isinstance(conclusion, str) else "")
    if kind == "Encounter":
        klass = resource.get("class")
        label = _coding(klass) if isinstance(klass, dict) else None
        return f"Encounter {name or label or ''} ({resource.get('status') or '?'})"
    if kind == "Condition":
        status = _concept(resource.get("clinicalStatus"))
        return f"Condition {name or '?'}" + (f" ({status})" if status else "")
    if kind in ("MedicationRequest", "MedicationStatement", "MedicationAdministration"):
        medication = _concept(resource.get("medicationCodeableConcept"))
        return f"{kind} {medication or '?'} ({resource.get('status') or '?'})"
    label = name or resource.get("title") or resource.get("description")
    if label:
        return f"{kind} {label}"
    status = resource.get("status")
    return f"{kind} ({status})" if status else kind


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else None


def _coding(coding: dict[str, Any]) -> str | None:
    display, code = coding.get("display"), coding.get("code")
    return str(display or code) if (display or code) else None


def _concept(concept: Any) -> str | None:
    """A CodeableConcept for people: its text, else the first coding's display or code."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and _coding(coding):
            return _coding(coding)
    return None


def _value(element: dict[str, Any]) -> str | None:
    quantity = element.get("valueQuantity")
    if isinstance(quantity, dict) and "value" in quantity:
        unit = quantity.get("unit") or quantity.get("code") or ""
        return f"{quantity['value']} {unit}".strip()
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime", "valueTime"):
        if key in element:
            return str(element[key])
    return _concept(element.get("valueCodeableConcept"))
