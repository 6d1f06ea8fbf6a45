"""FHIR R4 validation of everything the gateway produces, before it goes anywhere.

Structure and datatypes are checked by ``fhir.resources.R4B`` (FHIR 4.3.0), as the SDK does
(``clients/fhir.py`` explains why R4B stands in for R4). On top of the base specification the
consortium's profile adds terminology rules the base model cannot know and the Azure FHIR
Converter's users kept tripping over (microsoft/FHIR-Converter#402, #459):

- an Observation is coded in LOINC (``http://loinc.org``, code with a valid mod-10 check
  digit) and a quantity is in UCUM (``http://unitsofmeasure.org``, a case-sensitive ASCII
  code such as ``mmol/L`` or ``umol/L``; ``µmol/L`` is not UCUM);
- a Condition carries an ICD-10 code (``http://hl7.org/fhir/sid/icd-10``, e.g. ``I21.0``);
- every clinical resource names its subject;
- a status (and MedicationRequest.intent, Patient.gender) is in its required value set: the
  base model checks only that it is a code, and a HIS happily stores ``已审核`` there.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from clients.gateway.errors import FhirInvalidError

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
_LOINC_CODE = re.compile(r"^(\d{1,7})-(\d)$")
_UCUM_CODE = re.compile(r"^[!-~]{1,64}$")
_ICD10_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")


# required bindings the base model checks only as "a code": (resource, field) → value set
def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split(" "))


REQUIRED_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Observation", "status"): _codes(
        "registered preliminary final amended corrected cancelled entered-in-error unknown"
    ),
    ("DiagnosticReport", "status"): _codes(
        "registered partial preliminary final amended corrected appended cancelled "
        "entered-in-error unknown"
    ),
    ("Encounter", "status"): _codes(
        "planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown"
    ),
    ("MedicationRequest", "status"): _codes(
        "active on-hold cancelled completed entered-in-error stopped draft unknown"
    ),
    ("MedicationRequest", "intent"): _codes(
        "proposal plan order original-order reflex-order filler-order instance-order option"
    ),
    ("Composition", "status"): _codes("preliminary final amended entered-in-error"),
    ("Patient", "gender"): _codes("male female other unknown"),
}
NEEDS_SUBJECT = {"Encounter", "Observation", "DiagnosticReport", "Condition", "MedicationRequest"}


def loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit (Luhn) of the part before the hyphen."""
    total = 0
    for position, char in enumerate(reversed(number), start=1):
        digit = int(char) * (2 if position % 2 == 1 else 1)
        total += digit // 10 + digit % 10
    return (10 - total % 10) % 10


def is_loinc(code: str) -> bool:
    match = _LOINC_CODE.match(code)
    return bool(match) and loinc_check_digit(match.group(1)) == int(match.group(2))  # type: ignore[union-attr]


@lru_cache(maxsize=256)
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class  # ~0.2 s import: only when used

    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        raise FhirInvalidError(f"unknown FHIR resource type {resource_type!r}") from None


def validate_fhir(resource: Any) -> dict[str, Any]:
    """``resource`` if it is valid FHIR (R4B) and meets the profile; else
    :class:`FhirInvalidError` with the field and the rule."""
    if not isinstance(resource, dict):
        raise FhirInvalidError(f"the mapping gave {type(resource).__name__}, not a FHIR object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise FhirInvalidError("resourceType is missing")
    model = _model(resource_type)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ())) or '(resource)'}: {e.get('msg')}"
            for e in exc.errors(include_url=False)
        ]
        raise FhirInvalidError(f"invalid FHIR {resource_type}: {'; '.join(parts)}") from None
    except (ValueError, TypeError) as exc:
        raise FhirInvalidError(f"invalid FHIR {resource_type}: {exc}") from None
    _profile(resource_type, resource)
    if resource_type == "Bundle":
        for i, entry in enumerate(resource.get("entry") or []):
            inner = entry.get("resource")
            if isinstance(inner, dict):
                try:
                    _profile(str(inner.get("resourceType")), inner)
                except FhirInvalidError as exc:
                    raise FhirInvalidError(f"entry[{i}]: {exc}") from None
    return resource


def _codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def _profile(resource_type: str, r: dict[str, Any]) -> None:
    for (rtype, field), allowed in REQUIRED_CODES.items():
        if rtype == resource_type and field in r and r[field] not in allowed:
            raise FhirInvalidError(
                f"{rtype}.{field}: {r[field]!r} is not in its required value set "
                f"({', '.join(sorted(allowed))})"
            )
    if resource_type in NEEDS_SUBJECT and not (r.get("subject") or {}).get("reference"):
        raise FhirInvalidError(f"{resource_type}.subject: a reference to the patient is required")
    if resource_type == "Observation":
        loinc = [c for c in _codings(r.get("code")) if c.get("system") == LOINC]
        if not loinc:
            raise FhirInvalidError(
                "Observation.code: a LOINC coding (http://loinc.org) is required"
            )
        for c in loinc:
            if not is_loinc(str(c.get("code", ""))):
                raise FhirInvalidError(
                    f"Observation.code: {c.get('code')!r} is not a LOINC code (check digit)"
                )
        quantity = r.get("valueQuantity")
        unit = str((quantity or {}).get("code", ""))
        if quantity is not None and (quantity.get("system") != UCUM or not _UCUM_CODE.match(unit)):
            raise FhirInvalidError(
                "Observation.valueQuantity: units must be UCUM "
                f"(system {UCUM}, an ASCII code), got {quantity.get('code')!r}"
            )
    if resource_type == "Condition":
        icd = [c for c in _codings(r.get("code")) if c.get("system") == ICD10]
        if not icd:
            raise FhirInvalidError(f"Condition.code: an ICD-10 coding ({ICD10}) is required")
        for c in icd:
            if not _ICD10_CODE.match(str(c.get("code", ""))):
                raise FhirInvalidError(f"Condition.code: {c.get('code')!r} is not an ICD-10 code")
