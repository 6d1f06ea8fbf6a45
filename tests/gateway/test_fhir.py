"""Every sample mapping gives valid FHIR R4 for every sample row; the profile refuses what the
base model lets through (bad LOINC check digit, non-UCUM units, non-ICD-10 codes, no subject);
mapping errors and HL7 parsing never raise anything but the package's own errors."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.gateway.config.project import load_project
from clients.gateway.connectors.sql import row_dict
from clients.gateway.errors import FhirInvalidError, GatewayError, MappingError
from clients.gateway.fhir.mapping import Mapper
from clients.gateway.fhir.validate import validate_fhir
from clients.gateway.hl7.message import Hl7RejectError, parse
from clients.gateway.hl7.mllp import MllpServer
from clients.gateway.sample.his import HisGenerator, create_his, his_tables, seed_his
from clients.gateway.sample.project import write_sample

PAIRS = [
    ("patient", "patient", "Patient"),
    ("encounter", "encounter", "Encounter"),
    ("visit-summary", "encounter", "Composition"),
    ("lab-observation", "lab_result", "Observation"),
    ("condition", "diagnosis", "Condition"),
    ("medication-request", "prescription", "MedicationRequest"),
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, list[dict[str, Any]]]]:
    project = load_project(write_sample(tmp_path_factory.mktemp("fhir") / "gw"))
    engine = sa.create_engine("sqlite://")
    tables = his_tables()
    create_his(engine, tables)
    seed_his(engine, tables, patients=20, labs_each=5)
    gen = HisGenerator(4)
    rows: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as conn:
        conn.execute(
            tables.prescription.insert(), [gen.prescription(f"P{i:06d}") for i in range(1, 21)]
        )
        for name in ("patient", "encounter", "lab_result", "diagnosis", "prescription"):
            rows[name] = [row_dict(r) for r in conn.execute(getattr(tables, name).select())]
    return project, rows


@pytest.mark.parametrize(("mapping", "table", "resource"), PAIRS)
def test_every_sample_row_maps_to_valid_fhir(
    sample: Any, mapping: str, table: str, resource: str
) -> None:
    project, rows = sample
    mapper = Mapper(project.mappings[mapping])
    for row in rows[table]:
        mapped = mapper.apply(row)
        assert mapped.resource_type == resource
        assert mapped.patient_id == (row["id"] if table == "patient" else row["patient_id"])
        assert mapped.key == str(row["id"])


def test_observation_details(sample: Any) -> None:
    project, rows = sample
    obs = Mapper(project.mappings["lab-observation"]).apply(rows["lab_result"][0]).resource
    assert obs["code"]["coding"][0]["system"] == "http://loinc.org"
    assert obs["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    assert obs["interpretation"][0]["coding"][0]["code"] in {"L", "N", "H"}
    patient = Mapper(project.mappings["patient"]).apply(rows["patient"][0]).resource
    assert (
        patient["name"][0]["family"] + patient["name"][0]["given"][0] == patient["name"][0]["text"]
    )
    assert len(patient["identifier"][0]["value"]) == 18


def _observation(sample: Any) -> dict[str, Any]:
    project, rows = sample
    return copy.deepcopy(
        Mapper(project.mappings["lab-observation"]).apply(rows["lab_result"][0]).resource
    )


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda r: r["code"]["coding"][0].update(code="2345-8"), "check digit"),
        (lambda r: r["code"]["coding"][0].update(system="http://example.org"), "LOINC coding"),
        (lambda r: r["valueQuantity"].update(code="µmol/L"), "UCUM"),
        (lambda r: r["valueQuantity"].update(system="urn:his:units"), "UCUM"),
        (lambda r: r.pop("subject"), "subject"),
        (lambda r: r.update(status="done"), "status"),
        (lambda r: r.update(effectiveDateTime="2026-13-45"), "effectiveDateTime"),
        (lambda r: r.update(resourceType="Observatoin"), "unknown FHIR resource type"),
    ],
)
def test_profile_refuses(sample: Any, change: Any, needle: str) -> None:
    resource = _observation(sample)
    change(resource)
    with pytest.raises(FhirInvalidError, match=needle):
        validate_fhir(resource)


def test_condition_needs_icd10(sample: Any) -> None:
    project, rows = sample
    mapper = Mapper(project.mappings["condition"])
    bad = {**rows["diagnosis"][0], "icd10": "hypertension"}
    with pytest.raises(FhirInvalidError, match="not an ICD-10 code"):
        mapper.apply(bad)
    with pytest.raises(MappingError, match="no patient id"):
        mapper.apply({**rows["diagnosis"][0], "patient_id": None})


def test_a_mapping_that_declares_one_type_and_gives_another(sample: Any, tmp_path: Path) -> None:
    project, rows = sample
    mapping = copy.copy(project.mappings["condition"])
    mapping.resource = "Observation"
    with pytest.raises(FhirInvalidError, match="declares Observation"):
        Mapper(mapping).apply(rows["diagnosis"][0])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "patient_id",
                "loinc",
                "value",
                "unit",
                "status",
                "collected_at",
                "item_name",
                "ref_low",
                "ref_high",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(allow_nan=True),
            st.text(max_size=20),
            st.lists(st.integers(), max_size=3),
        ),
    )
)
def test_mapping_garbage_raises_only_our_errors(sample: Any, row: dict[str, Any]) -> None:
    project, _rows = sample
    with contextlib.suppress(GatewayError):
        Mapper(project.mappings["lab-observation"]).apply(row)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(lambda body: "MSH|^~\\&|" + body, st.text(max_size=300)),
        st.builds(
            lambda a, b: f"MSH|^~\\&|A|B|C|D|2026||ORU^R01|{a}|P|2.5\r{b}",
            st.text(max_size=20),
            st.text(max_size=200),
        ),
    )
)
def test_hl7_garbage_gets_an_answer_never_an_exception(text: str) -> None:
    server = MllpServer(lambda data, kind: None)
    answer = server.answer(text)
    assert answer.startswith("MSH|^~\\&|")
    assert "\rMSA|A" in answer
    with contextlib.suppress(Hl7RejectError):
        parse(text)


def test_compiled_engine_agrees_with_the_reference_interpreter(sample: Any) -> None:
    """jsonata2py (compiled, what the gateway runs) and jsonata-python (the reference
    interpreter) give identical output for every sample mapping and row."""
    import json

    import jsonata

    from clients.gateway.fhir.expressions import expression

    project, rows = sample
    for mapping, table, _resource in PAIRS:
        text = project.mappings[mapping].expression
        reference = jsonata.Jsonata(text)
        for row in rows[table]:
            ours = expression(text).evaluate(row)
            theirs = reference.evaluate(row, {"_": None})
            assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
