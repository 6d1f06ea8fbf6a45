"""``medledger patient timeline`` / ``doctor timeline`` against a real API over HTTP.

The patient's chart holds records of two authors: the patient's own Observation (policy
``dept:cardiology``) and the cardiologist's (``org:cd3h and dept:cardiology``), and an
Observation the GP's key opens (``org:qyqchc``). The patient grants the GP the whole chart:
the API lets the GP read all three, but the GP's key opens only one — with ``--decrypt`` that
one shows its summary and the other two show ``locked`` with who holds them and their policy.
The patient decrypts everything. The SDK gives the same items, in clinical date order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from clients.cli.common import EXIT_NOT_ALLOWED
from clients.sdk import MedLedgerClient
from tests.clients.conftest import LiveStack
from tests.clients.support import RECORD_ID, Cli, ok, one_error_line


def observation(text: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": text},
        "subject": {"reference": "Patient/p-001"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit},
    }


def share(cli: Cli, path: Path, resource: dict[str, Any], policy: str, **kw: str) -> str:
    path.write_text(json.dumps(resource))
    extra = ["--patient", kw["patient"]] if "patient" in kw else []
    out = ok(cli("patient", "share", str(path), "--policy", policy, *extra, wallet=kw["wallet"]))
    return RECORD_ID.search(out).group(1)  # type: ignore[union-attr]


def rows(out: str) -> dict[str, str]:
    """Table lines by the short record id they end with (``0x12345678…abcd``)."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        match = re.search(r"(0x[0-9a-f]{8})…([0-9a-f]{4})", line)
        if match:
            found[match.group(1) + match.group(2)] = line
    return found


def key(record_id: str) -> str:
    return record_id[:10] + record_id[-4:]


def test_timeline_decrypts_what_the_key_opens_and_shows_the_rest_locked(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    patient = stack.patient.address
    heart = share(
        cli, tmp_path / "hr.json", observation("Heart rate", 72, "beats/minute", "2026-01-05"),
        "dept:cardiology", wallet="patient",
    )  # fmt: skip
    echo = share(
        cli, tmp_path / "ef.json",
        observation("LV ejection fraction", 55, "%", "2026-06-01T09:30:00+08:00"),
        "org:cd3h and dept:cardiology", patient=patient, wallet="cardiologist",
    )  # fmt: skip
    glucose = share(
        cli, tmp_path / "glu.json", observation("Glucose", 5.4, "mmol/L", "2025-12-24"),
        "org:qyqchc", wallet="patient",
    )  # fmt: skip

    # --- nothing is open to the GP yet: refused, one line
    refused = cli("doctor", "timeline", patient, wallet="gp")
    assert "403" in one_error_line(refused, EXIT_NOT_ALLOWED)

    # --- the patient: all three decrypted, newest clinical date first
    out = ok(cli("patient", "timeline", "--decrypt", wallet="patient"))
    table = rows(out)
    assert set(table) == {key(heart), key(echo), key(glucose)}
    assert "decrypted" in table[key(echo)]
    assert "LV ejection fraction: 55 %" in table[key(echo)]
    assert "cd3h" in table[key(echo)]
    assert "Heart rate: 72 beats/minute" in table[key(heart)]
    assert "patient" in table[key(heart)]  # written by the patient themself
    assert "Glucose: 5.4 mmol/L" in table[key(glucose)]
    order = [out.index(key(r)[:10]) for r in (echo, heart, glucose)]
    assert order == sorted(order)
    assert "2026-06-01T09:30:00+08:00" in table[key(echo)]

    # without --decrypt nothing is read: the listing alone logs no access on chain
    before = len(stack.access_logged())
    listed = ok(cli("patient", "timeline", wallet="patient"))
    assert "may open" in rows(listed)[key(echo)]
    assert len(stack.access_logged()) == before

    # --- the GP, given the whole chart: opens only what its key's attributes satisfy
    ok(cli("patient", "grant", "--to", stack.gp.address, "--days", "1", wallet="patient"))
    out = ok(cli("doctor", "timeline", patient, "--decrypt", wallet="gp"))
    table = rows(out)
    assert "Glucose: 5.4 mmol/L" in table[key(glucose)]
    assert "decrypted" in table[key(glucose)]
    for locked in (heart, echo):
        assert "locked" in table[key(locked)]
    # the policy from the header, as its author wrote it (clients.sdk.policies.user_part)
    assert re.search(r"policy: dept:cardiology\s+│", table[key(heart)])
    assert "held by cd3h" in table[key(echo)]
    assert "policy: dept:cardiology and org:cd3h" in table[key(echo)]
    assert "held by patient" in table[key(heart)]
    assert "LV ejection" not in out

    # JSON lines carry the API's items and what the key made of them
    out = ok(cli("doctor", "timeline", patient, "--decrypt", "--json", wallet="gp"))
    items = {i["record_id"]: i for i in map(json.loads, out.splitlines())}
    assert items[echo]["opened"]["locked"] is True
    assert items[glucose]["opened"]["summary"] == "Glucose: 5.4 mmol/L"
    assert items[echo]["date"] == "2026-06-01T09:30:00+08:00"
    assert items[echo]["institution"]["code"] == "cd3h"

    # --- the SDK: the same items, paged
    with MedLedgerClient(live_stack.url, account=stack.patient) as client:
        client.login()
        page = client.timeline(patient, offset=1, limit=1)
        assert page.total == 3
        assert [i.record_id for i in page.items] == [heart]
        assert page.items[0].date == "2026-01-05"
        assert [i.record_id for i in client.iter_timeline(patient)] == [echo, heart, glucose]
