"""``medledger doctor break-glass`` end to end over HTTP on the threshold emergency path:
without an emergency key on chain the command refuses before opening anything; once the two
institutions' authorities made one (a DKG among the live stack's in-thread authorities,
:mod:`tests.clients.cli.emergency_support`), the opening decrypts the patient's chart with
both authorities' shares (each release on chain, shown to the patient); the cap and its
co-signature by a second doctor's wallet; the auditor's queue and review (on chain through
the API); the patient's re-key of what the emergency reader read, once the window has ended,
after which the data key that reader saw opens nothing of the new version, while a later
opening opens the re-keyed chart.

No central emergency key exists any more (issue 16): what the threshold scheme itself
guarantees (one authority alone releases nothing useful, a record shared after the opening
is refused) is tested in ``tests/clients/sdk/test_emergency_by_threshold.py`` and
``tests/authority/``; here, what the command line adds.

The last test moves the chain clock (anvil ``evm_increaseTime``, tests only), so the module
runs on an anvil of its own.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clients.cli.common import EXIT_ERROR, EXIT_NOT_ALLOWED
from clients.sdk import MedLedgerClient
from crypto.envelope import HeaderV3, decrypt_bytes_v3, open_data_key, parse_header
from crypto.errors import CryptoError
from crypto.signing import ReadPart
from ledger_api.chain.anvil import AnvilProcess, free_port
from tests.api.signing_client import purpose_code, signed_read_headers
from tests.clients.cli.emergency_support import make_emergency_key
from tests.clients.cli.test_flow import Cli, ok, one_error_line
from tests.clients.conftest import LiveStack

OPENING = re.compile(r"break-glass (0x[0-9a-f]{64}) open until")
REASON = "Found unresponsive, anticoagulant status unknown"
PLAINTEXT = json.dumps({"resourceType": "MedicationStatement", "status": "active"}).encode()
POLICY = "role:doctor and dept:cardiology"


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    node = AnvilProcess(port=free_port(), log_file=tmp_path_factory.mktemp("anvil") / "a.log")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings() -> dict[str, object]:
    return {"break_glass_daily_cap": 1}


def share(live: LiveStack, owner, plaintext: bytes, *, author=None) -> str:
    """A record of ``owner``'s chart shared through the SDK (by ``author``, default the
    patient), after ``owner`` registered their own key: envelope v3 with its emergency slot."""
    with MedLedgerClient(live.url, account=owner) as client:
        client.register_patient_key()
    with MedLedgerClient(live.url, account=author or owner) as client:
        info = client.share(
            plaintext,
            patient=owner.address,
            policy=POLICY,
            record_type="MedicationStatement",
            content_type="application/fhir+json",
        )
    return info.record_id


def content(live: LiveStack, who: MedLedgerClient, record_id: str) -> tuple[bytes, bytes]:
    """Header then body bytes as served to ``who`` (two logged reads, each signed)."""
    parts = []
    deployment = live.stack.deployment
    assert who.account is not None
    for part in ("header", "body"):
        signed = signed_read_headers(
            who.account,
            chain_id=deployment.chain_id,
            access_log=deployment.address("AccessLog"),
            record_id=record_id,
            part=ReadPart.HEADER if part == "header" else ReadPart.BODY,
            purpose=purpose_code("treatment"),
        )
        answer = httpx.get(
            f"{live.url}/records/{record_id}/{part}",
            params={"purpose": "treatment"},
            headers={"Authorization": f"Bearer {who.token}", **signed},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        parts.append(answer.content)
    return parts[0], parts[1]


def test_break_glass_from_the_command_line(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    patient = stack.patient.address
    before_id = share(live_stack, stack.patient, b'{"resourceType":"Immunization"}')

    # no emergency key on chain yet: refused before anything is opened
    none = cli("doctor", "break-glass", patient, "--reason", REASON, wallet="gp")
    assert "no emergency key" in one_error_line(none, EXIT_ERROR)
    assert "awaiting review" not in ok(cli("patient", "break-glass", wallet="patient"))

    seconds = make_emergency_key(live_stack, t=2)
    print(f"DKG among 2 in-thread authorities and their restart: {seconds:.1f} s")
    record_id = share(live_stack, stack.patient, PLAINTEXT, author=stack.cardiologist)
    other_id = share(live_stack, stack.other_patient, b'{"resourceType":"Other"}')
    time.sleep(1.1)  # the opening's block is a later second than the records'

    short = cli("doctor", "break-glass", patient, "--reason", "urgent", wallet="gp")
    assert "reason" in one_error_line(short, EXIT_ERROR)

    out_dir = tmp_path / "er"
    opened = cli("doctor", "break-glass", patient, "--reason", REASON, "-o", str(out_dir),
                 wallet="gp")  # fmt: skip
    out = ok(opened)
    first = OPENING.search(out).group(1)  # type: ignore[union-attr]
    assert "asking 2 of 2 institutions' authorities" in out
    assert "decrypted 1 record of" in out  # the patient's chart only, and ...
    # ... the record shared before the emergency key existed has no emergency slot: said so
    assert "not opened: 1 record without an emergency slot" in opened.stderr
    assert before_id in opened.stderr
    [written] = list(out_dir.iterdir())
    assert written.name.startswith(record_id[2:14])
    assert written.suffix == ".json"
    assert written.read_bytes() == PLAINTEXT
    # the opening is for one patient: another's record is refused as an emergency read
    other = cli("doctor", "get", other_id, "-o", str(tmp_path / "other.json"), "--purpose",
                "emergency", wallet="gp")  # fmt: skip
    assert "403" in one_error_line(other, EXIT_NOT_ALLOWED)
    assert not (tmp_path / "other.json").exists()

    # the cap (1 here): refused with a hint, a self co-signature refused, a second doctor's works
    capped = cli("doctor", "break-glass", patient, "--reason", REASON, wallet="gp")
    assert "--cosigner-wallet" in one_error_line(capped, EXIT_ERROR)
    own = cli(
        "doctor", "break-glass", patient, "--reason", REASON, "--cosigner-wallet", "gp",
        "-o", str(tmp_path / "x"), wallet="gp",
    )  # fmt: skip
    assert "co-signature" in one_error_line(own, EXIT_ERROR)
    out = ok(
        cli(
            "doctor",
            "break-glass",
            patient,
            "--reason",
            REASON,
            "--cosigner-wallet",
            "cardiologist",
            "-o",
            str(tmp_path / "er2"),
            wallet="gp",
        )
    )
    assert "decrypted 1 record of" in out

    # the patient sees both openings with the reason, and which institutions released shares
    mine = ok(cli("patient", "break-glass", wallet="patient"))
    assert mine.count("awaiting review") == 2
    assert "anticoagulant" in mine
    assert "emergency shares released for my records (4)" in mine  # 2 openings × 2 authorities

    # the auditor's queue, a review, and the queue without it
    queue = ok(cli("auditor", "break-glass", "--unreviewed", wallet="auditor"))
    assert queue.count("awaiting review") == 2
    done = ok(
        cli(
            "auditor",
            "review",
            first,
            "--justified",
            "--note",
            "ED record confirms it",
            wallet="auditor",
        )
    )
    assert f"reviewed {first}: justified" in done
    queue = ok(cli("auditor", "break-glass", "--unreviewed", wallet="auditor"))
    assert queue.count("awaiting review") == 1
    everything = ok(cli("auditor", "break-glass", wallet="auditor"))
    assert "justified" in everything
    # a doctor may not review
    refused = cli("auditor", "review", first, "--not-justified", "--note", "x", wallet="gp")
    assert refused.exit_code != 0


def test_after_the_window_the_patient_rekeys_what_was_read(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    """Opening 1 decrypts the chart; once its window has ended the patient re-keys (with their
    own key) what its clinician opened: the data key that reader saw opens nothing of the new
    version, and a record shared after the opening (never opened under it) is left as it is."""
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    make_emergency_key(live_stack, t=2)
    read_id = share(live_stack, stack.patient, PLAINTEXT)
    time.sleep(1.1)  # the opening's block is a later second than the record's
    with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
        gp.login()
        # a short window: the chain clock moves past it below, and every action signed after
        # that (re-keys, openings) carries a deadline of wall-clock time plus an hour
        opening = gp.break_glass(stack.patient.address, reason=REASON, window=120)
        assert opening.expires_at - opening.opened_at == 120
        [result] = gp.emergency_open_chart(
            stack.patient.address, tmp_path / "er", opening_id=opening.id
        )
        assert result.record_id == read_id
        assert result.path.read_bytes() == PLAINTEXT
    # shared after the opening: never read under it
    unread_id = share(live_stack, stack.patient, b'{"resourceType":"Immunization"}')
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        patient.login()
        own_key = patient.patient_key()
        old_header, _ = content(live_stack, patient, read_id)
    parsed = parse_header(old_header)
    assert isinstance(parsed, HeaderV3)
    assert parsed.emergency is not None
    seen = open_data_key(parsed, patient_key=own_key)  # the data key the emergency reader had

    early = cli("patient", "break-glass", "--rekey", opening.id, wallet="patient")
    assert "open until" in one_error_line(early, EXIT_ERROR)

    stack.w3.provider.make_request("evm_increaseTime", [opening.expires_at - opening.opened_at + 1])
    stack.w3.provider.make_request("evm_mine", [])
    out = ok(cli("patient", "break-glass", "--rekey", opening.id, wallet="patient"))
    assert read_id in out
    assert "re-encrypted" in out
    assert unread_id not in out  # never read under the opening: left as it is

    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        patient.login()
        assert patient.record(read_id).raw["version"] == 2
        assert patient.record(unread_id).raw["version"] == 1
        new_header, new_body = content(live_stack, patient, read_id)
    # the data key the reader saw opens nothing of the new version ...
    with pytest.raises(CryptoError):
        decrypt_bytes_v3(new_header, new_body, data_key=seen)
    assert open_data_key(parse_header(new_header), patient_key=own_key) != seen
    # ... which the patient still reads with their own key
    assert decrypt_bytes_v3(new_header, new_body, patient_key=own_key) == PLAINTEXT

    # the expired opening reads nothing more: the API refuses the clinician's emergency reads
    late = cli("doctor", "get", read_id, "-o", str(tmp_path / "late.json"), "--purpose",
               "emergency", wallet="gp")  # fmt: skip
    assert "403" in one_error_line(late, EXIT_NOT_ALLOWED)
    assert not (tmp_path / "late.json").exists()


def test_a_rekeyed_record_keeps_its_emergency_slot(live_stack: LiveStack, tmp_path: Path) -> None:
    """After ``patient rekey --full`` a later opening still decrypts the record."""
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    make_emergency_key(live_stack, t=2)
    record_id = share(live_stack, stack.patient, PLAINTEXT)
    out = ok(cli("patient", "rekey", record_id, "--full", wallet="patient"))
    assert "re-encrypted (new body and header), version 2" in out
    time.sleep(1.1)  # the opening's block is a later second than the re-key's
    out = ok(
        cli(
            "doctor",
            "break-glass",
            stack.patient.address,
            "--reason",
            REASON,
            "-o",
            str(tmp_path / "er"),
            wallet="gp",
        )
    )
    assert "decrypted 1 record of" in out
    assert [p.read_bytes() for p in (tmp_path / "er").iterdir()] == [PLAINTEXT]
