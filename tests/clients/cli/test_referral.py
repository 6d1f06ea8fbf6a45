"""``medledger patient sign-consent`` and ``medledger referral …`` against a real API (uvicorn,
anvil): the GP (qyqchc) refers the patient up to cd3h cardiology and gets the summary back;
refusals are one line with the API's reason and change nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clients.cli.common import EXIT_NOT_ALLOWED, EXIT_NOT_FOUND
from tests.clients.cli.workflow_support import Cli, found, ok, one_error_line
from tests.clients.conftest import LiveStack

REFERRAL_ID = re.compile(r"referral (0x[0-9a-f]{64}) requested")
SHARED_ID = re.compile(r"as record (0x[0-9a-f]{64})")
LETTER = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
          "subject": {"reference": "Patient/p-001"}}  # fmt: skip
CARDIOLOGY = "org:cd3h and dept:cardiology"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the command line; backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def sign(cli: Cli, tmp_path: Path, name: str, *options: str) -> Path:
    path = tmp_path / name
    out = ok(cli("patient", "sign-consent", "-o", str(path), *options, wallet="patient"))
    assert f"wrote {path}" in out
    return path


def test_referral_up_and_back_through_the_cli(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    patient = stack.patient.address
    letter_file = tmp_path / "letter.json"
    letter_file.write_text(json.dumps(LETTER))
    letter = cli.share(letter_file, CARDIOLOGY)

    consent = sign(cli, tmp_path, "consent.json", "--purpose", "referral", "--org", "cd3h",
                   "--dept", "cardiology", "--record", letter)  # fmt: skip
    saved = json.loads(consent.read_text())
    assert saved["audience_policy"] == "dept:cardiology and org:cd3h"
    assert [c["consent"]["record_id"] for c in saved["consents"]] == [letter]
    assert stack.patient.key.hex()[2:] not in consent.read_text()  # signatures only

    out = ok(cli("referral", "create", "--patient", patient, "--to", "cd3h", "--dept",
                 "cardiology", "--reason", letter, "--consent", str(consent), "--urgency",
                 "urgent", wallet="gp"))  # fmt: skip
    referral = found(REFERRAL_ID, out)
    assert "urgent" in out

    # the receiving department sees it in its work list and reads the letter before arrival
    listed = ok(cli("referral", "list", "--direction", "incoming", "--state", "open",
                    wallet="cardiologist"))  # fmt: skip
    assert referral in listed
    got = tmp_path / "got-letter.json"
    ok(cli("doctor", "get", letter, "-o", str(got), "--purpose", "referral",
           wallet="cardiologist"))  # fmt: skip
    assert json.loads(got.read_text()) == LETTER

    assert "accepted" in ok(cli("referral", "accept", referral, wallet="cardiologist"))
    assert "marked arrived" in ok(cli("referral", "arrive", referral, wallet="cardiologist"))
    summary_file = tmp_path / "summary.txt"
    summary_file.write_text("Discharge: PCI of the LAD, stable. GP follow-up in 2 weeks.\n")
    out = ok(cli("referral", "complete", referral, str(summary_file), wallet="cardiologist"))
    summary = found(SHARED_ID, out)
    assert f"referral {referral} completed" in out

    # the summary came back to the GP
    back = tmp_path / "back.txt"
    ok(cli("doctor", "get", summary, "-o", str(back), "--purpose", "referral", wallet="gp"))
    assert back.read_text() == summary_file.read_text()

    shown = ok(cli("referral", "show", referral, wallet="gp"))
    raw = json.loads(ok(cli("referral", "show", referral, "--json", wallet="gp")))
    assert [h["state"] for h in raw["history"]] == ["requested", "accepted", "arrived", "completed"]
    for step in raw["history"]:
        assert step["tx_hash"] in shown  # printed in full
        assert stack.w3.eth.get_transaction_receipt(step["tx_hash"])["status"] == 1
    assert summary in shown

    # --- refusals: one line each, and nothing changes
    records, head = cli.patient_records(), stack.w3.eth.block_number
    line = one_error_line(cli("referral", "accept", referral, wallet="cardiologist"), 1)
    assert "cannot accept a referral that is completed" in line
    assert "409" in line
    again = tmp_path / "again.txt"
    again.write_text("a second summary")
    line = one_error_line(
        cli("referral", "complete", referral, str(again), wallet="cardiologist"), 1
    )
    assert "cannot complete a referral that is completed" in line
    line = one_error_line(cli("referral", "arrive", referral, wallet="gp"), EXIT_NOT_ALLOWED)
    assert "only a doctor or nurse of the receiving institution" in line
    unknown = "0x" + "ab" * 32
    line = one_error_line(cli("referral", "show", unknown, wallet="gp"), EXIT_NOT_FOUND)
    assert "referral_not_found" in line
    assert (cli.patient_records(), stack.w3.eth.block_number) == (records, head)


def test_consent_file_checks_and_a_cancel(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    patient = stack.patient.address
    letter_file = tmp_path / "letter.json"
    letter_file.write_text(json.dumps(LETTER))
    letter = cli.share(letter_file, CARDIOLOGY)
    create = ("referral", "create", "--patient", patient, "--to", "cd3h", "--dept",
              "cardiology", "--reason", letter, "--consent")  # fmt: skip

    # bad sign-consent input costs nothing (no file written)
    line = one_error_line(
        cli("patient", "sign-consent", "-o", str(tmp_path / "x.json"), "--purpose", "referral",
            "--org", "cd3h", "--dept", "cardiology", wallet="patient"), 1,
    )  # fmt: skip
    assert "--record ID" in line
    assert not (tmp_path / "x.json").exists()

    other = cli.share(letter_file, CARDIOLOGY)
    wrong = sign(cli, tmp_path, "neuro.json", "--purpose", "referral", "--org", "cd3h",
                 "--dept", "neurology", "--record", letter)  # fmt: skip
    right = sign(cli, tmp_path, "cardio.json", "--purpose", "referral", "--org", "cd3h",
                 "--dept", "cardiology", "--record", letter)  # fmt: skip
    consult = sign(cli, tmp_path, "consult.json", "--purpose", "consultation", "--org", "cd3h",
                   "--record", letter)  # fmt: skip
    tampered = json.loads(right.read_text())
    tampered["consents"][0]["consent"]["expires_at"] += 1
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(tampered))
    head = stack.w3.eth.block_number

    # a consent for the wrong department is refused before anything is sent
    line = one_error_line(cli(*create, str(wrong), wallet="gp"), 1)
    assert "'dept:neurology and org:cd3h'" in line
    assert "needs 'dept:cardiology and org:cd3h'" in line
    # one that does not cover a record sent along
    line = one_error_line(cli(*create, str(right), "--record", other, wallet="gp"), 1)
    assert f"does not cover record {other}" in line
    # a consultation consent is not a referral consent
    line = one_error_line(cli(*create, str(consult), wallet="gp"), 1)
    assert "is a consultation consent, not a referral one" in line
    # an altered file: the signature no longer recovers to the patient
    line = one_error_line(cli(*create, str(altered), wallet="gp"), 1)
    assert "not signed by the patient" in line
    assert stack.w3.eth.block_number == head
    assert not ok(cli("referral", "list", "--json", wallet="gp")).strip()

    # the right file works: cd3h rejects one referral, the GP cancels another
    rejected = found(REFERRAL_ID, ok(cli(*create, str(right), wallet="gp")))
    out = ok(cli("referral", "reject", rejected, "--reason", "no_capacity",
                 wallet="cardiologist"))  # fmt: skip
    assert f"referral {rejected} rejected" in out
    assert "state rejected" in out
    fresh = sign(cli, tmp_path, "fresh.json", "--purpose", "referral", "--org", "cd3h",
                 "--dept", "cardiology", "--record", letter)  # fmt: skip
    referral = found(REFERRAL_ID, ok(cli(*create, str(fresh), wallet="gp")))
    line = one_error_line(
        cli("referral", "cancel", referral, wallet="cardiologist"), EXIT_NOT_ALLOWED
    )
    assert "only the requesting doctor may cancel" in line
    out = ok(cli("referral", "cancel", referral, "--reason", "patient_declined", wallet="gp"))
    assert f"referral {referral} cancelled" in out
    shown = ok(cli("referral", "show", referral, wallet="gp"))
    assert "patient_declined" in shown
    assert "cancelled" in shown
    line = one_error_line(cli("referral", "accept", referral, wallet="cardiologist"), 1)
    assert "cannot accept a referral that is cancelled (HTTP 409, invalid_transition)" in line
    outgoing = ok(cli("referral", "list", "--direction", "outgoing", wallet="gp"))
    assert rejected in outgoing
    assert referral in outgoing
    assert "no_capacity" in ok(cli("referral", "show", rejected, wallet="cardiologist"))
