"""The clinical date the SDK derives from a resource (the index entry) and the timeline summary.

No stack: pure functions over FHIR JSON. The date must be the one FHIR defines for the type,
and anything the API would refuse must be dropped, never sent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from clients.sdk.fhir import FHIR_CONTENT_TYPE, plaintext_summary, validate_resource
from clients.sdk.fhir_index import clinical_date, summary
from clients.sdk.lab_csv import observation_of

HB = observation_of(
    patient_id="p-001",
    loinc="718-7",
    value=Decimal("13.5"),
    unit="g/dL",
    effective="2026-11-20T08:30:00+08:00",
    display="Hemoglobin",
)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (HB, "2026-11-20T08:30:00+08:00"),
        ({"resourceType": "Observation", "issued": "2026-11-21T01:00:00Z"}, "2026-11-21T01:00:00Z"),
        (
            {
                "resourceType": "Observation",
                "effectivePeriod": {"start": "2026-10"},
                "issued": "2026-11-21T01:00:00Z",
            },
            "2026-10",
        ),
        (
            {"resourceType": "Encounter", "period": {"start": "2026-01-02T10:00:00Z"}},
            "2026-01-02T10:00:00Z",
        ),
        (
            {"resourceType": "DiagnosticReport", "issued": "2026-03-04T05:06:07.123+08:00"},
            "2026-03-04T05:06:07.123+08:00",
        ),
        ({"resourceType": "Condition", "recordedDate": "2025-12-31"}, "2025-12-31"),
        (
            {"resourceType": "Patient", "meta": {"lastUpdated": "2026-01-01T00:00:00Z"}},
            "2026-01-01T00:00:00Z",
        ),
        ({"resourceType": "Patient"}, None),
        ({"resourceType": "Observation", "effectiveDateTime": "yesterday"}, None),  # dropped
        ({"resourceType": "Observation", "effectiveDateTime": "2026-02-30"}, None),
    ],
)
def test_clinical_date_by_resource_type(resource: dict[str, Any], expected: str | None) -> None:
    assert clinical_date(resource) == expected


def test_a_bundle_dates_by_timestamp_else_its_newest_entry() -> None:
    later = {**HB, "effectiveDateTime": "2026-11-21"}
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": HB}, {"resource": later}],
    }
    assert clinical_date(bundle) == "2026-11-21"
    assert clinical_date({**bundle, "timestamp": "2026-11-25T00:00:00Z"}) == "2026-11-25T00:00:00Z"
    assert clinical_date({"resourceType": "Bundle", "type": "collection"}) is None


def test_validate_resource_carries_the_date() -> None:
    assert validate_resource(HB).record_date == "2026-11-20T08:30:00+08:00"


def test_summaries() -> None:
    assert summary(HB) == "Hemoglobin: 13.5 g/dL"
    pressure = {
        "resourceType": "Observation",
        "code": {"text": "Blood pressure"},
        "component": [
            {"code": {"text": "systolic"}, "valueQuantity": {"value": 120, "unit": "mm[Hg]"}},
            {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80, "unit": "mm[Hg]"}},
        ],
    }
    assert summary(pressure) == "Blood pressure: systolic 120 mm[Hg], diastolic 80 mm[Hg]"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": HB}] * 5}
    assert summary(bundle).startswith("Bundle (collection, 5 entries): Hemoglobin: 13.5 g/dL;")
    assert summary(bundle).endswith("+2 more")
    assert summary(
        {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
    ) == ("Encounter AMB (finished)")
    long = {"resourceType": "DiagnosticReport", "code": {"text": "CT"}, "conclusion": "x" * 500}
    assert len(summary(long)) == 120


def test_plaintext_summary_of_fhir_json_and_of_other_bytes() -> None:
    """The one line the SDK's and the command line's timelines show for a decrypted record."""
    observation = (
        b'{"resourceType": "Observation", "status": "final",'
        b' "code": {"text": "Heart rate"}, "valueQuantity": {"value": 72, "unit": "/min"}}'
    )
    line = plaintext_summary(observation, FHIR_CONTENT_TYPE)
    assert "Heart rate" in line
    assert "72" in line
    # FHIR sniffed from the bytes even under a generic content type
    assert plaintext_summary(b"  " + observation, "application/octet-stream") == line
    # JSON that is not a resource, broken JSON and binary stay "what it is and how large"
    assert plaintext_summary(b'{"a": 1}', FHIR_CONTENT_TYPE) == f"{FHIR_CONTENT_TYPE}, 8 bytes"
    assert plaintext_summary(b"{not json", "") == "application/octet-stream, 9 bytes"
    assert plaintext_summary(b"\x89PNG\r\n", "image/png") == "image/png, 6 bytes"
