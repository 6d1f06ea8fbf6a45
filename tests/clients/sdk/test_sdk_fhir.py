"""FHIR validation on the client (R4B models of fhir.resources): what passes, what is refused.

The live-stack tests check that a refused resource uploads nothing; these check the validator's
message reaches the user for each way a document can be wrong, without a stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clients.sdk.errors import FhirValidationError
from clients.sdk.fhir import validate_resource

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "心率"}]},
    "effectiveDateTime": "2026-11-26T08:30:00+08:00",
    "valueQuantity": {"value": 72, "unit": "/min"},
}


def test_resources_as_dict_text_and_file_keep_their_bytes(tmp_path: Path) -> None:
    as_dict = validate_resource(OBSERVATION)
    assert as_dict.resource_type == "Observation"
    assert json.loads(as_dict.data) == OBSERVATION
    text = json.dumps(OBSERVATION, ensure_ascii=False, indent=2)
    assert validate_resource(text).data == text.encode()  # the original document, as written
    path = tmp_path / "obs.json"
    path.write_text(text, encoding="utf-8")
    for given in (path, str(path)):
        assert validate_resource(given).data == path.read_bytes()


def test_a_bundle_is_validated_with_its_entries() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": OBSERVATION}]}
    assert validate_resource(bundle).resource_type == "Bundle"
    broken = {**OBSERVATION}
    del broken["status"]
    with pytest.raises(FhirValidationError) as refused:
        validate_resource({**bundle, "entry": [{"resource": broken}]})
    assert str(refused.value).startswith("invalid FHIR Bundle: entry.0.resource.status: ")


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ({**OBSERVATION, "valueQuantity": {"value": "seventy"}}, r"valueQuantity\.value: "),
        ({**OBSERVATION, "effectiveDateTime": "yesterday"}, "effectiveDateTime: .*DateTime"),
        ({**OBSERVATION, "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"resourceType": "Patientt"}, "unknown FHIR resource type 'Patientt'"),
        ({"status": "final"}, "'resourceType' is missing"),
        ('{"resourceType": ', "not FHIR JSON"),
        ("[1, 2]", "the JSON is not an object"),
        ("/no/such/file.json", "cannot read /no/such/file.json"),
    ],
)
def test_invalid_documents_name_what_is_wrong(resource: Any, message: str) -> None:
    with pytest.raises(FhirValidationError, match=message) as refused:
        validate_resource(resource)
    assert "\n" not in str(refused.value)  # one line for the command line
