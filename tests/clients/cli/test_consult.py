"""``medledger consult …`` against a real API (uvicorn, anvil): the GP (qyqchc) asks cd3h for
an opinion, the cardiologist answers with a file, the GP reads it and closes; an opinion after
the close is the API's 409 in one line, and nothing is shared for it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clients.cli.common import EXIT_NOT_ALLOWED, EXIT_NOT_FOUND
from tests.clients.cli.workflow_support import Cli, found, ok, one_error_line
from tests.clients.conftest import LiveStack

CONSULTATION_ID = re.compile(r"consultation (0x[0-9a-f]{64}) opened")
OPINION_ID = re.compile(r"opinion (0x[0-9a-f]{64}) given")
OPINION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "Cardiology opinion"},
    "subject": {"reference": "Patient/p-001"},
    "valueString": "Old inferior infarct on the ECG; echocardiography advised.",
}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the command line; backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def test_consultation_opinion_close_and_refusals(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    patient = stack.patient.address
    question_file = tmp_path / "question.txt"
    question_file.write_text("ECG attached: old infarct? What next?\n")
    question = cli.share(question_file, "org:cd3h")

    # the patient's consent names the audience: the invited institution
    line = one_error_line(
        cli("patient", "sign-consent", "-o", str(tmp_path / "t.json"), "--purpose",
            "treatment", "--org", "cd3h", "--whole-chart", wallet="patient"), 1,
    )  # fmt: skip
    assert "--purpose must be referral or consultation" in line
    consent = tmp_path / "consent.json"
    ok(cli("patient", "sign-consent", "-o", str(consent), "--purpose", "consultation",
           "--org", "cd3h", "--record", question, wallet="patient"))  # fmt: skip
    create = ("consult", "create", "--patient", patient, "--question", question,
              "--consent", str(consent))  # fmt: skip

    # inviting another audience than the consent names is refused before anything is sent
    head = stack.w3.eth.block_number
    line = one_error_line(
        cli(*create, "--invite", "cd3h", "--invited-policy", "dept:neurology", wallet="gp"), 1
    )
    assert "consents to 'org:cd3h', but this consultation needs" in line
    assert "'dept:neurology or org:cd3h'" in line
    assert stack.w3.eth.block_number == head

    out = ok(cli(*create, "--invite", "cd3h", "--hours", "24", wallet="gp"))
    consultation = found(CONSULTATION_ID, out)

    # the invited cardiologist finds it, reads the question, answers with a FHIR file
    assert consultation in ok(cli("consult", "list", "--state", "open", wallet="cardiologist"))
    got = tmp_path / "q.txt"
    ok(cli("doctor", "get", question, "-o", str(got), "--purpose", "consultation",
           wallet="cardiologist"))  # fmt: skip
    assert got.read_text() == question_file.read_text()
    opinion_file = tmp_path / "opinion.json"
    opinion_file.write_text(json.dumps(OPINION))
    out = ok(cli("consult", "opinion", consultation, str(opinion_file), wallet="cardiologist"))
    opinion = found(OPINION_ID, out)

    # the GP sees the opinion (author, record, tx) and reads it
    shown = ok(cli("consult", "show", consultation, wallet="gp"))
    raw = json.loads(ok(cli("consult", "show", consultation, "--json", wallet="gp")))
    (given,) = raw["opinions"]
    assert given["author"] == stack.cardiologist.address
    assert given["record_id"] == opinion
    assert given["tx_hash"] in shown
    assert stack.cardiologist.address in shown
    read = tmp_path / "read.json"
    ok(cli("doctor", "get", opinion, "-o", str(read), "--purpose", "consultation", wallet="gp"))
    assert json.loads(read.read_text()) == OPINION

    conclusion = tmp_path / "conclusion.txt"
    conclusion.write_text("Conclusion: echocardiography booked at cd3h.\n")
    line = one_error_line(
        cli("consult", "close", consultation, str(conclusion), wallet="cardiologist"),
        EXIT_NOT_ALLOWED,
    )
    assert "only the requesting doctor may close" in line
    out = ok(cli("consult", "close", consultation, str(conclusion), wallet="gp"))
    assert f"closed consultation {consultation}" in out
    assert "conclusion 0x" in out

    # after the close: an opinion is the API's 409, and its file is not shared
    records, head = cli.patient_records(), stack.w3.eth.block_number
    late = tmp_path / "late.txt"
    late.write_text("a late opinion")
    line = one_error_line(
        cli("consult", "opinion", consultation, str(late), wallet="cardiologist"), 1
    )
    assert "cannot give an opinion: the consultation is closed" in line
    assert "(HTTP 409, invalid_transition)" in line
    line = one_error_line(cli("consult", "cancel", consultation, wallet="gp"), 1)
    assert "invalid_transition" in line
    line = one_error_line(cli("consult", "show", "0x" + "cd" * 32, wallet="gp"), EXIT_NOT_FOUND)
    assert "consultation_not_found" in line
    line = one_error_line(
        cli("consult", "opinion", consultation, str(late), "--record", opinion,
            wallet="cardiologist"), 1,
    )  # fmt: skip
    assert "FILE to share, or --record ID" in line
    assert (cli.patient_records(), stack.w3.eth.block_number) == (records, head)
    assert "closed" in ok(cli("consult", "list", "--role", "requested", wallet="gp"))

    # invited by policy instead of institution; the requester cancels it
    by_policy = tmp_path / "by-policy.json"
    ok(cli("patient", "sign-consent", "-o", str(by_policy), "--purpose", "consultation",
           "--invited-policy", "dept:cardiology", "--record", question,
           wallet="patient"))  # fmt: skip
    out = ok(cli("consult", "create", "--patient", patient, "--question", question, "--consent",
                 str(by_policy), "--invited-policy", "dept:cardiology", wallet="gp"))  # fmt: skip
    second = found(CONSULTATION_ID, out)
    assert second in ok(cli("consult", "list", "--state", "open", wallet="cardiologist"))
    out = ok(cli("consult", "cancel", second, "--reason", "resolved", wallet="gp"))
    assert f"cancelled consultation {second}" in out
    assert "resolved" in ok(cli("consult", "show", second, wallet="gp"))
