"""Issue 13, friction 4: "who read my records" in words a patient can follow.

One row per read (the header and the body of one read are one row), the reader's institution,
role and department beside the address, the patient's own reads left out unless ``--all``,
and the same rows as JSON and CSV. Through the real stack (anvil, API over HTTP).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.clients.conftest import LiveStack
from tests.clients.support import RECORD_ID, Cli, found, ok, wait_indexed

OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "HR"}}
CARDIOLOGIST = "doctor · dept:cardiology · cd3h 成都市第三人民医院"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def test_one_row_per_read_with_names(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    source = tmp_path / "hr.json"
    source.write_text(json.dumps(OBSERVATION))
    record_id = found(RECORD_ID, ok(cli("patient", "share", str(source), "--policy",
                                        "dept:cardiology", wallet="patient")))  # fmt: skip
    ok(cli("patient", "get", record_id, "-o", str(tmp_path / "mine.json"), wallet="patient"))
    ok(cli("patient", "grant", "--to", "cardiologist", wallet="patient"))
    ok(cli("doctor", "get", record_id, "-o", str(tmp_path / "c1.json"), wallet="cardiologist"))
    ok(cli("doctor", "get", record_id, "-o", str(tmp_path / "c2.json"), wallet="cardiologist"))
    refused = cli("doctor", "get", record_id, "-o", str(tmp_path / "gp.json"), wallet="gp")
    assert refused.exit_code == 5
    wait_indexed(stack)
    on_chain = stack.access_logged()
    assert len(on_chain) == 2 + 2 + 2 + 1  # patient: header+body, cardiologist twice, GP refused

    for source_flags in ([], ["--from-chain", "--rpc", stack.settings.rpc_url]):
        result = cli("patient", "access", *source_flags, "--json", wallet="patient")
        reads = [json.loads(line) for line in ok(result).splitlines()]
        # two reads by the cardiologist (one row each, header and body together), one refusal
        assert [(r["accessor"], r["decision"], r["parts"]) for r in reads] == [
            (stack.gp.address, "denied", 1),
            (stack.cardiologist.address, "granted", 2),
            (stack.cardiologist.address, "granted", 2),
        ]
        assert reads[1]["accessor_name"] == CARDIOLOGIST
        assert reads[0]["accessor_name"].startswith("doctor · dept:general_practice · qyqchc")
        assert reads[0]["reason"] == "no consent"
        assert "1 read of your own not shown (--all shows them)" in result.stderr

        shown = ok(cli("patient", "access", *source_flags, "--all", "--json", wallet="patient"))
        everything = [json.loads(x) for x in shown.splitlines()]
        assert len(everything) == 4
        assert everything[-1]["accessor"] == stack.patient.address

    table = ok(cli("patient", "access", wallet="patient"))
    assert table.count(stack.cardiologist.address) == 2  # one row per read, not four
    assert "cd3h 成都市第三人民医院" in table
    assert stack.patient.address not in table.split("\n", 1)[1]  # only in the title
    written = ok(cli("patient", "access", "--csv", "-", wallet="patient"))
    rows = list(csv.DictReader(io.StringIO(written)))
    assert [r["decision"] for r in rows] == ["denied", "granted", "granted"]
    assert rows[1]["accessor_name"] == CARDIOLOGIST
    assert rows[1]["time"].endswith("Z")
    assert len(rows[1]["tx_hashes"].split()) == 2
