"""The legacy lab CSV converter: good rows become valid FHIR R4 Observations, bad rows are named.

Pure conversion, no stack needed; the CLI's upload of converted files is tested with the CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fhir.resources.R4B.observation import Observation

from clients.sdk.lab_csv import LabCsvError, convert_file, convert_text, loinc_check_digit

GOOD = """patient_id,loinc,value,unit,time,display
MRN-0001,718-7,13.2,g/dL,2026-11-01T08:30:00+08:00,Hemoglobin
MRN-0001,2160-0,88,umol/L,2026-11-01 08:30,Creatinine
MRN-0002,30934-4,412.5,pg/mL,2026-11-02,BNP
"""


def test_good_rows_become_valid_observations() -> None:
    result = convert_text(GOOD)
    assert result.ok
    assert [line for line, _ in result.observations] == [2, 3, 4]
    first = result.observations[0][1]
    assert first["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "718-7",
        "display": "Hemoglobin",
    }
    assert first["valueQuantity"]["value"] == 13.2
    assert first["valueQuantity"]["code"] == "g/dL"
    assert first["subject"] == {"reference": "Patient/MRN-0001"}
    # no offset in the export: China Standard Time is assumed, as FHIR requires one
    assert result.observations[1][1]["effectiveDateTime"] == "2026-11-01T08:30:00+08:00"
    assert result.observations[1][1]["valueQuantity"]["value"] == 88
    assert result.observations[2][1]["effectiveDateTime"] == "2026-11-02"
    for _, observation in result.observations:
        Observation.model_validate(observation)  # the resources are valid FHIR
    assert {k: len(v) for k, v in result.by_patient().items()} == {"MRN-0001": 2, "MRN-0002": 1}


def test_bad_rows_are_reported_by_line_column_and_reason() -> None:
    text = (
        "Patient_ID,LOINC,Value,Unit,Time\n"
        "MRN-1,718-7,13.2,g/dL,2026-11-01T08:30:00Z\n"  # good
        "MRN-2,718-8,13.2,g/dL,2026-11-01\n"  # wrong check digit
        "MRN-3,718-7,high,g/dL,2026-11-01\n"  # not a number
        "MRN-4,718-7,1,g dL,2026-11-01\n"  # unit with a space
        "MRN-5,718-7,1,g/dL,yesterday\n"  # not a time
        ",718-7,1,g/dL,2026-11-01\n"  # empty patient id
        "MRN 6,718-7,1,g/dL,2026-11-01\n"  # id with a space
        "\n"
    )
    result = convert_text(text)
    assert not result.ok
    assert [line for line, _ in result.observations] == [2]
    found = {(e.line, e.column) for e in result.errors}
    assert found == {
        (3, "loinc"),
        (4, "value"),
        (5, "unit"),
        (6, "time"),
        (7, "patient_id"),
        (8, "patient_id"),
    }
    messages = {e.line: str(e) for e in result.errors}
    assert messages[3] == "line 3, column loinc: '718-8' has a wrong check digit (expected 718-7)"
    assert messages[7] == "line 7, column patient_id: empty"


@pytest.mark.parametrize(
    ("code", "digit"), [("718", 7), ("2160", 0), ("30934", 4), ("2345", 7), ("8480", 6)]
)
def test_loinc_check_digit_matches_published_codes(code: str, digit: int) -> None:
    # 718-7 hemoglobin, 2160-0 creatinine, 30934-4 BNP, 2345-7 glucose, 8480-6 systolic BP
    assert loinc_check_digit(code) == digit


def test_whole_file_problems_raise(tmp_path: Path) -> None:
    with pytest.raises(LabCsvError, match="empty"):
        convert_text("")
    with pytest.raises(LabCsvError, match=r"missing column.*unit, time"):
        convert_text("patient_id,loinc,value\nMRN-1,718-7,1\n")
    latin1 = tmp_path / "export.csv"
    latin1.write_bytes("patient_id,loinc,value,unit,time\n\xe9".encode("latin-1"))
    with pytest.raises(LabCsvError, match="not UTF-8"):
        convert_file(latin1)
    with pytest.raises(LabCsvError, match="cannot read"):
        convert_file(tmp_path / "missing.csv")


def test_file_with_bom_converts(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("\ufeff" + GOOD, encoding="utf-8")
    assert convert_file(path).ok
