"""Issue 13, frictions 1 and 8: tables that fit, full ids on request, unique prefixes, JSON,
CSV with ISO times, ``-o -`` and ``--version``; through the real stack (anvil, API over HTTP).

The 80-column checks run ``medledger`` on a real pseudo-terminal of that width.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from clients.cli import app
from clients.cli.common import EXIT_NOT_FOUND
from clients.cli.ids import remember
from tests.clients.cli.terminal import run_in_terminal, widest_line
from tests.clients.conftest import LiveStack
from tests.clients.support import PASSWORD, RECORD_ID, Cli, found, ok, one_error_line, runner

CONSENT_ID = re.compile(r"consent (0x[0-9a-f]{64})")
SHORT_ID = re.compile(r"0x[0-9a-f]{8}…[0-9a-f]{4}")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "Heart rate"},
    "valueQuantity": {"value": 72, "unit": "beats/minute"},
}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def _terminal(cli: Cli, *args: str, wallet: str, columns: int = 80) -> str:
    code, shown = run_in_terminal(
        [*args, "--api", cli.live.url, "--data-dir", str(cli.data_dir), "--wallet", wallet],
        env={"MEDLEDGER_WALLET_PASSWORD": PASSWORD},
        columns=columns,
    )
    assert code == 0, shown
    assert widest_line(shown) <= columns, shown
    return shown


def test_tables_fit_80_columns_and_short_ids_are_taken_back(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    record = tmp_path / "hr.json"
    record.write_text(json.dumps(OBSERVATION))
    record_id = found(RECORD_ID, ok(cli("patient", "share", str(record), "--policy",
                                        "dept:cardiology", wallet="patient")))  # fmt: skip
    out = ok(cli("patient", "grant", "--to", stack.cardiologist.address, "--purpose", "treatment",
                 "--days", "7", wallet="patient"))  # fmt: skip
    consent_id = found(CONSENT_ID, out)

    # 80 columns: the consent id (shortened), purpose, expiry and status are all there
    shown = _terminal(cli, "patient", "consents", wallet="patient")
    assert f"{consent_id[:10]}…{consent_id[-4:]}" in shown
    assert "treatment" in shown
    assert "active" in shown
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown), shown
    # records at 80 columns: the id and the type; --full-ids keeps every id whole (folded)
    shown = _terminal(cli, "patient", "records", wallet="patient")
    assert f"{record_id[:10]}…{record_id[-4:]}" in shown
    assert "Observation" in shown
    full = _terminal(cli, "patient", "records", "--full-ids", wallet="patient")
    first_column = "".join(
        line.split("│")[1].strip() for line in full.splitlines() if line.startswith("│")
    )
    assert record_id in first_column  # folded over lines, never cut
    assert "…" not in full.split("records of")[1]

    # the short form as printed, and a bare prefix, are accepted back
    got = tmp_path / "back.json"
    ok(cli("patient", "get", f"{record_id[:10]}…{record_id[-4:]}", "-o", str(got),
           wallet="patient"))  # fmt: skip
    assert json.loads(got.read_text()) == OBSERVATION
    out = ok(cli("patient", "revoke", consent_id[:12], "--no-rekey", wallet="patient"))
    assert f"revoked consent {consent_id}" in out

    # an unknown prefix is not found (4); an ambiguous one lists the candidates (1)
    unknown = cli("patient", "get", "0xffffffff", "-o", str(tmp_path / "x"), wallet="patient")
    assert "no record id matches 0xffffffff" in one_error_line(unknown, EXIT_NOT_FOUND)
    twins = ["0x" + record_id[2:10] + "0" * 56, "0x" + record_id[2:10] + "1" * 56]
    remember(cli.data_dir, "record", twins)
    ambiguous = cli("patient", "get", record_id[:10], "-o", str(tmp_path / "x"), wallet="patient")
    line = one_error_line(ambiguous, 1)
    assert "ambiguous" in line
    assert record_id in line
    assert twins[0] in line
    assert not (tmp_path / "x").exists()


def test_json_csv_stdout_and_version(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    record = tmp_path / "hr.json"
    record.write_text(json.dumps(OBSERVATION))
    record_id = found(RECORD_ID, ok(cli("patient", "share", str(record), "--policy",
                                        "dept:cardiology", wallet="patient")))  # fmt: skip
    out = ok(cli("patient", "grant", "--to", stack.cardiologist.address, wallet="patient"))
    consent_id = found(CONSENT_ID, out)

    # -o - writes the plaintext itself to stdout; the note goes to stderr
    result = cli("patient", "get", record_id, "-o", "-", wallet="patient")
    assert json.loads(ok(result)) == OBSERVATION
    assert "to standard output" in result.stderr
    assert not Path("-").exists()
    result = cli("doctor", "get", record_id, "-o", "-", wallet="cardiologist")
    assert json.loads(ok(result)) == OBSERVATION

    # a doctor on their own machine abbreviates the ids a listing there has shown
    doctor = Cli(live_stack, tmp_path / "doctor-home", people=("cardiologist",))
    unseen = doctor("doctor", "get", record_id[:10], "-o", "-", wallet="cardiologist")
    assert "doctor records PATIENT" in one_error_line(unseen, EXIT_NOT_FOUND)
    ok(doctor("doctor", "records", stack.patient.address, wallet="cardiologist"))
    result = doctor("doctor", "get", record_id[:10], "-o", "-", wallet="cardiologist")
    assert json.loads(ok(result)) == OBSERVATION

    # --json on the listings
    (consent,) = [json.loads(x) for x in ok(cli("patient", "consents", "--json",
                                                 wallet="patient")).splitlines()]  # fmt: skip
    assert consent["consent_id"] == consent_id
    assert consent["status"] == "active"
    assert ISO.match(consent["expires"])
    login = json.loads(ok(cli("doctor", "login", "--json", wallet="cardiologist")))
    assert login["role"] == "doctor"
    assert "dept:cardiology" in login["attributes"]
    listed = runner.invoke(app, ["wallet", "list", "--json", "--data-dir", str(cli.data_dir)])
    wallets = [json.loads(x) for x in ok(listed).splitlines()]
    assert {w["name"] for w in wallets} >= {"patient", "cardiologist"}
    assert {w["address"] for w in wallets} >= {stack.patient.address}
    accesses = [json.loads(x) for x in ok(cli("patient", "access", "--json",
                                              wallet="patient")).splitlines()]  # fmt: skip
    assert [a["accessor"] for a in accesses] == [stack.cardiologist.address] * 2

    # auditor events: --json and --csv - (stdout), both with ISO times like the table
    events = [json.loads(x) for x in ok(cli("auditor", "events", "--json",
                                            wallet="auditor")).splitlines()]  # fmt: skip
    assert events
    assert all(ISO.match(e["time"]) for e in events)
    table = ok(cli("auditor", "events", wallet="auditor"))
    assert events[0]["time"] in table
    written = ok(cli("auditor", "events", "--csv", "-", wallet="auditor"))
    rows = list(csv.DictReader(io.StringIO(written)))
    assert len(rows) == len(stack.access_logged())
    assert all(ISO.match(r["time"]) for r in rows)
    assert "block_time" not in rows[0]
    cardiologist = "doctor · dept:cardiology · cd3h 成都市第三人民医院"
    assert {r["accessor_name"] for r in rows} == {cardiologist, "not a member"}  # the patient

    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0
    assert re.fullmatch(r"medledger \d+\.\d+\.\d+\S*\n", version.stdout)
