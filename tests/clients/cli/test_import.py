"""``medledger patient import-labs`` against a real API over HTTP (uvicorn, anvil).

A good export is shared one Observation per row, or one Bundle per patient; a file with a bad
row uploads nothing (no new ``RecordRegistered`` on chain) and names each problem by line,
column and reason; ``--skip-bad-rows`` shares the good rows only. Each record carries its
clinical date in the index and decrypts to the converted Observation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clients.sdk import MedLedgerClient
from ledger_api.chain.records import RecordRegistry
from tests.clients.conftest import LiveStack
from tests.clients.support import Cli, ok, one_error_line

GOOD = """patient_id,loinc,value,unit,time,display
MRN-0001,718-7,13.2,g/dL,2026-11-01T08:30:00+08:00,Hemoglobin
MRN-0001,2160-0,88,umol/L,2026-11-02 08:30,Creatinine
"""
TWO_PATIENTS = GOOD + "MRN-0002,30934-4,412.5,pg/mL,2026-11-03,BNP\n"
BAD = """patient_id,loinc,value,unit,time
MRN-0001,718-7,13.2,g/dL,2026-11-01T08:30:00+08:00
MRN-0001,718-6,13.2,g/dL,2026-11-01T08:30:00+08:00
MRN-0001,2160-0,eighty,umol/L,2026-11-02
"""


def registered(live: LiveStack) -> int:
    """How many ``RecordRegistered`` events this deployment's registry has emitted."""
    stack = live.stack
    registry = RecordRegistry(stack.w3, stack.deployment.address("RecordRegistry"))
    event = registry.contract.events.RecordRegistered
    return len(event.get_logs(from_block=stack.deployment.block_number))


def records_of(live: LiveStack, account: Any) -> dict[str, Any]:
    with MedLedgerClient(live.url, account=account) as client:
        client.login()
        return {r.record_id: r for r in client.iter_records(account.address)}


def test_good_file_per_row_and_bundled(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    labs = tmp_path / "labs.csv"
    labs.write_text(GOOD, encoding="utf-8")

    # --- the patient imports their own results: one Observation record per row
    before = registered(live_stack)
    out = ok(cli("patient", "import-labs", str(labs), "--policy", "dept:cardiology",
                 wallet="patient"))  # fmt: skip
    assert "shared 2 records from labs.csv" in out
    assert registered(live_stack) == before + 2
    mine = records_of(live_stack, stack.patient)
    dates = sorted(r.raw["record_date"] for r in mine.values())
    assert dates == ["2026-11-01T08:30:00+08:00", "2026-11-02T08:30:00+08:00"]
    assert {r.record_type for r in mine.values()} == {"Observation"}
    with MedLedgerClient(live_stack.url, account=stack.patient) as client:
        client.login()
        key = client.patient_key()  # the patient's own slot: no authority involved
        first = next(r for r in mine.values() if r.raw["record_date"].startswith("2026-11-01"))
        observation = json.loads(client.fetch_bytes(first.record_id, patient_key=key))
    assert observation["valueQuantity"] == {
        "value": 13.2,
        "unit": "g/dL",
        "system": "http://unitsofmeasure.org",
        "code": "g/dL",
    }

    # --- a clinician shares a two-patient export as one Bundle per patient (--patient-map)
    both = tmp_path / "ward.csv"
    both.write_text(TWO_PATIENTS, encoding="utf-8")
    ids = tmp_path / "ids.csv"
    ids.write_text(
        f"patient_id,address\nMRN-0001,{stack.patient.address}\n"
        f"MRN-0002,{stack.other_patient.address}\n",
        encoding="utf-8",
    )
    # each patient's own key is on chain before a clinician shares for them (their slot)
    with MedLedgerClient(live_stack.url, account=stack.other_patient) as other:
        other.register_patient_key()
    several = cli("patient", "import-labs", str(both), "--policy", "org:qyqchc", wallet="gp")
    assert "--patient-map" in one_error_line(several, 1)  # two patient ids, no map
    before = registered(live_stack)
    out = ok(cli("patient", "import-labs", str(both), "--policy", "org:qyqchc", "--patient-map",
                 str(ids), "--bundle", wallet="gp"))  # fmt: skip
    assert "shared 2 records" in out
    assert registered(live_stack) == before + 2
    bundles = [
        r for r in records_of(live_stack, stack.patient).values() if r.record_type == "Bundle"
    ]
    assert len(bundles) == 1
    assert bundles[0].raw["record_date"] == "2026-11-02T08:30:00+08:00"  # the newest entry
    assert bundles[0].author == stack.gp.address
    other = records_of(live_stack, stack.other_patient)
    assert [(r.record_type, r.raw["record_date"]) for r in other.values()] == [
        ("Bundle", "2026-11-03")
    ]


def test_bad_rows_upload_nothing_unless_skipped(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    labs = tmp_path / "bad.csv"
    labs.write_text(BAD, encoding="utf-8")
    before = registered(live_stack)

    refused = cli("patient", "import-labs", str(labs), "--policy", "dept:cardiology",
                  wallet="patient")  # fmt: skip
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    lines = refused.stderr.strip().splitlines()
    assert (
        lines[0]
        == "bad.csv: line 3, column loinc: '718-6' has a wrong check digit (expected 718-7)"
    )
    assert lines[1] == "bad.csv: line 4, column value: 'eighty' is not a decimal number"
    assert lines[2].startswith("error: 2 problems in bad.csv; nothing was uploaded")
    assert registered(live_stack) == before  # nothing on chain
    assert records_of(live_stack, stack.patient) == {}

    # an unmapped patient id is a row problem too, found before anything is sent
    ids = tmp_path / "ids.csv"
    ids.write_text("patient_id,address\nMRN-9999,0x" + "11" * 20 + "\n", encoding="utf-8")
    unmapped = cli("patient", "import-labs", str(labs), "--policy", "org:qyqchc",
                   "--patient-map", str(ids), wallet="gp")  # fmt: skip
    assert "line 2, column patient_id: 'MRN-0001' is not in the patient map" in unmapped.stderr
    assert registered(live_stack) == before

    out = ok(cli("patient", "import-labs", str(labs), "--policy", "dept:cardiology",
                 "--skip-bad-rows", wallet="patient"))  # fmt: skip
    assert "shared 1 record from bad.csv" in out
    assert registered(live_stack) == before + 1
    (only,) = records_of(live_stack, stack.patient).values()
    assert only.raw["record_date"] == "2026-11-01T08:30:00+08:00"
