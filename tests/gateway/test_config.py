"""Declarations: a bad gateway folder is refused at load with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.gateway.config.project import load_project
from clients.gateway.errors import ConfigError
from clients.gateway.sample.project import write_sample


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_sample(tmp_path / "gw")


def write(folder: Path, rel: str, text: str) -> None:
    (folder / rel).write_text(text, encoding="utf-8")


def refused(folder: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_project(folder)
    return info.value


FLOW = """kind: Flow
version: 1
name: extra
source: {capture: {connection: his, table: his_lab_result}}
steps:
"""


def test_sample_loads_and_digest_is_stable(folder: Path) -> None:
    project = load_project(folder)
    assert set(project.flows) == {"lab-results", "diagnoses", "prescriptions", "hl7-lab"}
    assert load_project(folder).digest == project.digest
    write(
        folder,
        "mappings/condition.yaml",
        (folder / "mappings/condition.yaml").read_text().replace("version: 1", "version: 2"),
    )
    assert load_project(folder).digest != project.digest


def test_unknown_field_is_named_with_its_line(folder: Path) -> None:
    write(
        folder,
        "flows/extra.yaml",
        FLOW + "  - id: a\n    type: fhir\n    mapping: condition\n    mappping_typo: x\n",
    )
    err = refused(folder)
    assert (err.file, err.line, err.field) == ("flows/extra.yaml", 9, "steps[0].mappping_typo")
    assert "unknown field" in str(err)


def test_unknown_top_level_field_in_connection(folder: Path) -> None:
    text = (folder / "connections/his.yaml").read_text() + "password: hunter2\n"
    write(folder, "connections/his.yaml", text)
    err = refused(folder)
    assert err.file == "connections/his.yaml"
    assert err.field == "password"
    assert err.line == text.count("\n")


def test_cycle_is_named(folder: Path) -> None:
    write(
        folder,
        "flows/extra.yaml",
        FLOW + "  - {id: a, type: filter, input: b, when: 'true'}\n"
        "  - {id: b, type: filter, input: a, when: 'true'}\n",
    )
    err = refused(folder)
    assert err.file == "flows/extra.yaml"
    assert err.line in (6, 7)
    assert "cycle" in str(err)
    assert "a → b → a" in str(err) or "b → a → b" in str(err)


def test_type_mismatch_sink_needs_fhir(folder: Path) -> None:
    write(
        folder,
        "flows/extra.yaml",
        FLOW + "  - {id: raw, type: map, expression: '$'}\n"
        "  - {id: share, type: sink, input: raw, sink: medledger}\n",
    )
    err = refused(folder)
    assert (err.line, err.field) == (7, "steps[1].input")
    assert "type mismatch" in str(err)
    assert "fhir" in str(err)


def test_type_mismatch_mapping_fed_a_list(folder: Path) -> None:
    write(
        folder,
        "flows/extra.yaml",
        FLOW + "  - {id: rows, type: map, expression: '[$]', output: array}\n"
        "  - {id: obs, type: fhir, input: rows, mapping: lab-observation}\n",
    )
    err = refused(folder)
    assert err.field == "steps[1].input"
    assert "foreach" in str(err)


@pytest.mark.parametrize(
    ("sql", "needle"),
    [
        ("SELECT * FROM his_lab_result WHERE patient_id = :patient", ":patient is not bound"),
        ("SELECT * FROM his_lab_result WHERE patient_id = '%s'", None),
        ("SELECT * FROM his_lab_result WHERE patient_id = %(p)s", "not a bound parameter"),
        ("SELECT * FROM his_lab_result WHERE patient_id = {patient_id}", "not a bound parameter"),
        ("SELECT * FROM his_lab_result WHERE patient_id = ?", "not a bound parameter"),
        ("SELECT * FROM his_lab_result WHERE id = $1", "not a bound parameter"),
    ],
)
def test_sql_parameters_must_be_bound(folder: Path, sql: str, needle: str | None) -> None:
    text = (folder / "apis/lab-results-by-patient.yaml").read_text()
    start = text.index("sql: |")
    end = text.index("page:")
    write(folder, "apis/lab-results-by-patient.yaml", text[:start] + f'sql: "{sql}"\n' + text[end:])
    if needle is None:  # '%s' inside a string literal is data, not a placeholder
        load_project(folder)
        return
    err = refused(folder)
    assert err.file == "apis/lab-results-by-patient.yaml"
    assert err.field == "sql"
    assert needle in str(err)


def test_colon_inside_literal_and_cast_are_not_parameters(folder: Path) -> None:
    text = (folder / "apis/lab-results-by-patient.yaml").read_text()
    start, end = text.index("sql: |"), text.index("page:")
    sql = "SELECT id::text, ':nope' AS x FROM his_lab_result WHERE patient_id = :patient_id -- :c"
    write(folder, "apis/lab-results-by-patient.yaml", text[:start] + f'sql: "{sql}"\n' + text[end:])
    load_project(folder)


def test_duplicate_key_alias_and_bad_yaml(folder: Path) -> None:
    write(folder, "topics/x.yaml", "kind: Topic\nkind: Topic\n")
    assert refused(folder).line == 2
    assert "duplicate" in str(refused(folder))
    write(folder, "topics/x.yaml", "a: &x [1, 2]\nb: *x\n")
    assert "aliases" in str(refused(folder))
    write(folder, "topics/x.yaml", "kind: [Topic\n")
    assert refused(folder).file == "topics/x.yaml"
    write(folder, "topics/x.yaml", "- just\n- a list\n")
    assert "mapping" in str(refused(folder))


def test_jsonata_syntax_error_names_the_field(folder: Path) -> None:
    text = (folder / "mappings/condition.yaml").read_text().replace('"id": "dx-"', '"id": "dx-" &&')
    write(folder, "mappings/condition.yaml", text)
    err = refused(folder)
    assert err.file == "mappings/condition.yaml"
    assert err.field == "expression"
    assert "JSONata" in str(err)


def test_references_must_exist(folder: Path) -> None:
    write(folder, "flows/extra.yaml", FLOW + "  - {id: obs, type: fhir, mapping: nope}\n")
    err = refused(folder)
    assert err.field == "steps[0].mapping"
    assert "no mapping" in str(err)
    write(
        folder,
        "flows/extra.yaml",
        FLOW + "  - {id: obs, type: fhir, input: ghost, mapping: condition}\n",
    )
    assert "no step 'ghost'" in str(refused(folder))


def test_oversized_and_non_utf8_files(folder: Path) -> None:
    (folder / "topics/big.yaml").write_bytes(b"a: " + b"x" * (1024 * 1024 + 1))
    assert "larger than" in str(refused(folder))
    (folder / "topics/big.yaml").write_bytes(b"kind: \xff\xfe\n")
    assert "UTF-8" in str(refused(folder))


def test_duplicate_names_and_second_gateway(folder: Path) -> None:
    write(folder, "mappings/again.yaml", (folder / "mappings/condition.yaml").read_text())
    assert "already named 'condition'" in str(refused(folder))
    (folder / "mappings/again.yaml").unlink()
    write(folder, "flows/gw2.yaml", (folder / "gateway.yaml").read_text())
    assert "exactly one Gateway" in str(refused(folder))
