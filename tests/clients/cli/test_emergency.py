"""``medledger doctor break-glass`` end to end over HTTP: open, emergency key, decrypt the
patient's chart to a folder; the cap and its co-signature by a second doctor's wallet; the
patient's view; the auditor's queue and review (on chain through the API); the patient's
re-key of what the emergency reader read, once the window has ended, after which the
opening's emergency key opens neither the re-keyed records nor those shared since (the
break-glass counter ``bg:<n>``), and the next opening's key does.

The last test moves the chain clock (anvil ``evm_increaseTime``, tests only), so the module
runs on an anvil of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clients.cli.common import EXIT_ERROR
from clients.sdk import MedLedgerClient
from clients.sdk.errors import ApiError, DecryptionError
from clients.sdk.policies import parse_record_policy
from crypto import envelope
from crypto.errors import CryptoError
from crypto.signing import ReadPart, sign
from ledger_api.chain.anvil import AnvilProcess, free_port
from tests.api.signing_client import purpose_code, signed_read_headers
from tests.api.support_break_glass import composed_policy
from tests.clients.cli.test_flow import Cli, ok, one_error_line
from tests.clients.conftest import LiveStack

OPENING = re.compile(r"break-glass (0x[0-9a-f]{64}) open until")
REASON = "Found unresponsive, anticoagulant status unknown"
PLAINTEXT = json.dumps({"resourceType": "MedicationStatement", "status": "active"}).encode()


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


def upload(live: LiveStack, plaintext: bytes = PLAINTEXT) -> str:
    """The patient's record under the composed policy (emergency clause included)."""
    stack = live.stack
    record_id, header, body = stack.make_record(
        stack.patient,
        composed_policy("role:doctor and dept:cardiology", stack.patient.address),
        plaintext,
        add_patient_uid=False,
    )
    with MedLedgerClient(live.url, account=stack.patient) as client:
        client.login()
        registration = stack.registration(
            record_id=record_id,
            patient=stack.patient.address,
            header=header,
            body=body,
            record_type="MedicationStatement",
        )
        signature = sign(stack.registry_domain, registration, stack.patient.key)
        metadata = {
            "record_id": "0x" + record_id.hex(),
            "patient": stack.patient.address,
            "record_type": "MedicationStatement",
            "deadline": registration.deadline,
            "signature": "0x" + signature.hex(),
        }
        answer = httpx.post(
            f"{live.url}/records",
            headers={"Authorization": f"Bearer {client.token}"},
            data={"metadata": json.dumps(metadata)},
            files={"header": ("h", header), "body": ("b", body)},
            timeout=60,
        )
    assert answer.status_code == 201, answer.text
    return "0x" + record_id.hex()


def test_break_glass_from_the_command_line(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    patient = stack.patient.address
    record_id = upload(live_stack)

    short = cli("doctor", "break-glass", patient, "--reason", "urgent", wallet="gp")
    assert "reason" in one_error_line(short, EXIT_ERROR)

    out_dir = tmp_path / "er"
    out = ok(
        cli("doctor", "break-glass", patient, "--reason", REASON, "-o", str(out_dir), wallet="gp")
    )
    first = OPENING.search(out).group(1)  # type: ignore[union-attr]
    assert "decrypted 1 record" in out
    [written] = list(out_dir.iterdir())
    assert written.name.startswith(record_id[2:14])
    assert written.suffix == ".json"
    assert written.read_bytes() == PLAINTEXT

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
    assert "decrypted 1 record" in out

    # the patient sees both openings with the reason
    mine = ok(cli("patient", "break-glass", wallet="patient"))
    assert mine.count("awaiting review") == 2
    assert "anticoagulant" in mine

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


def test_sdk_shares_with_the_emergency_clause_and_the_key_opens_one_patient(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    """The SDK composes the record policy itself (clients/sdk/policies.py): a break-glass key of
    one patient opens that patient's SDK-shared record, and the other patient's stays shut."""
    stack = live_stack.stack
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Potassium"},
        "valueQuantity": {"value": 6.1, "unit": "mmol/L"},
    }
    shared = {}
    for person in (stack.patient, stack.other_patient):
        with MedLedgerClient(live_stack.url, account=person) as client:
            client.login()
            shared[person.address] = client.share_fhir(
                resource, patient=person.address, policy="dept:cardiology"
            )
    with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
        gp.login()
        opening = gp.break_glass(stack.patient.address, reason=REASON)
        key = gp.fetch_emergency_key(opening.id)
        [result] = gp.emergency_download(
            stack.patient.address, tmp_path / "out", user_key=key.user_key
        )
        assert result.record_id == shared[stack.patient.address].record_id
        assert json.loads(result.path.read_text())["code"]["text"] == "Potassium"  # type: ignore[union-attr]
        # the other patient's chart: the API refuses the emergency read
        other = shared[stack.other_patient.address].record_id
        with pytest.raises(ApiError) as refused:
            gp.fetch(other, tmp_path / "x.json", user_key=key.user_key, purpose="emergency")
        assert refused.value.status == 403
        assert not (tmp_path / "x.json").exists()
    # and with a consent to read it, the emergency key still cannot decrypt it
    with MedLedgerClient(live_stack.url, account=stack.other_patient) as owner:
        owner.login()
        owner.grant(grantee=stack.gp.address, record_id=other)
    with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
        gp.login()
        with pytest.raises(DecryptionError):
            gp.fetch(other, tmp_path / "y.json", user_key=key.user_key)


def content(
    live: LiveStack, who: MedLedgerClient, record_id: str, purpose: str
) -> tuple[bytes, bytes]:
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
            purpose=purpose_code(purpose),
        )
        answer = httpx.get(
            f"{live.url}/records/{record_id}/{part}",
            params={"purpose": purpose},
            headers={"Authorization": f"Bearer {who.token}", **signed},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        parts.append(answer.content)
    return parts[0], parts[1]


def sdk_share(live: LiveStack, owner, plaintext: bytes) -> str:
    """A record shared by ``owner`` (a patient) through the SDK: the policy is composed there,
    with the chart's break-glass count at that moment."""
    with MedLedgerClient(live.url, account=owner) as client:
        client.login()
        info = client.share(
            plaintext,
            patient=owner.address,
            policy="role:doctor and dept:cardiology",
            record_type="MedicationStatement",
            content_type="application/fhir+json",
        )
    return info.record_id


def counter(header: bytes) -> int | None:
    return parse_record_policy(envelope.parse_header(header).policy).break_glass


def test_after_the_window_and_the_rekey_the_emergency_key_opens_nothing_new(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    """Opening 1's key opens the chart as it was; once the window has ended and the patient
    re-keyed what was read, it fails cryptographically on the re-keyed records and on records
    shared since (bg:1), which opening 2's key opens; neither opens another patient's."""
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    read_id = sdk_share(live_stack, stack.patient, PLAINTEXT)
    unread_id = sdk_share(live_stack, stack.patient, b'{"resourceType":"Immunization"}')
    other_id = sdk_share(live_stack, stack.other_patient, b'{"resourceType":"Other"}')
    with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
        gp.login()
        assert gp.break_glass_count(stack.patient.address) == 0
        # a short window: the chain clock moves past it below, and every action signed after
        # that (re-keys, openings) carries a deadline of wall-clock time plus an hour
        opening = gp.break_glass(stack.patient.address, reason=REASON, window=120)
        assert opening.expires_at - opening.opened_at == 120
        assert gp.break_glass_count(stack.patient.address) == 1
        issued = gp.fetch_emergency_key(opening.id)
        assert "bg:0" in issued.attributes
        key1 = issued.user_key
        old_header, old_body = content(live_stack, gp, read_id, "emergency")
    assert counter(old_header) == 0
    assert envelope.decrypt_bytes(old_header, old_body, user_key=key1) == PLAINTEXT

    early = cli("patient", "break-glass", "--rekey", opening.id, wallet="patient")
    assert "open until" in one_error_line(early, EXIT_ERROR)

    stack.w3.provider.make_request("evm_increaseTime", [opening.expires_at - opening.opened_at + 1])
    stack.w3.provider.make_request("evm_mine", [])
    out = ok(cli("patient", "break-glass", "--rekey", opening.id, wallet="patient"))
    assert read_id in out
    assert "re-encrypted" in out
    assert unread_id not in out  # never read under the opening: left as it is
    after_id = sdk_share(live_stack, stack.patient, b'{"resourceType":"Condition"}')

    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        patient.login()
        assert patient.record(read_id).raw["version"] == 2
        assert patient.record(unread_id).raw["version"] == 1
        unread_header, unread_body = content(live_stack, patient, unread_id, "treatment")
    # what was not read keeps bg:0, which opening 1's key still opens ... until --all-records
    assert counter(unread_header) == 0
    out = ok(
        cli("patient", "break-glass", "--rekey", opening.id, "--all-records", wallet="patient")
    )
    assert unread_id in out
    assert "rewrapped" in out
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        patient.login()
        assert patient.record(unread_id).raw["version"] == 2
        new_header, new_body = content(live_stack, patient, read_id, "treatment")
        after_header, after_body = content(live_stack, patient, after_id, "treatment")
        unread_header, unread_body = content(live_stack, patient, unread_id, "treatment")
    with MedLedgerClient(live_stack.url, account=stack.other_patient) as other:
        other.login()
        other_header, other_body = content(live_stack, other, other_id, "treatment")
    assert counter(new_header) == counter(after_header) == 1
    # the data key the reader saw opens nothing of the new version ...
    with pytest.raises(CryptoError):
        envelope.decrypt_bytes(old_header, new_body, user_key=key1)
    # ... nor does the emergency key: the re-keyed header and the one shared since need bg:1
    chart = ((new_header, new_body), (after_header, after_body), (unread_header, unread_body))
    assert [counter(header) for header, _ in chart] == [1, 1, 1]
    for header, body in chart:
        with pytest.raises(CryptoError):
            envelope.decrypt_bytes(header, body, user_key=key1)

    # a second opening (another doctor: the cap is per clinician): no record uses bg:0 any
    # more, so the floor rose and its key carries bg:1 only
    with MedLedgerClient(live_stack.url, account=stack.cardiologist) as cardiologist:
        cardiologist.login()
        second = cardiologist.break_glass(stack.patient.address, reason=REASON)
        issued = cardiologist.fetch_emergency_key(second.id)
    assert sorted(a for a in issued.attributes if a.startswith("bg:")) == ["bg:1"]
    key2 = issued.user_key
    assert envelope.decrypt_bytes(new_header, new_body, user_key=key2) == PLAINTEXT
    assert envelope.decrypt_bytes(after_header, after_body, user_key=key2) == (
        b'{"resourceType":"Condition"}'
    )
    assert envelope.decrypt_bytes(unread_header, unread_body, user_key=key2) == (
        b'{"resourceType":"Immunization"}'
    )
    # neither key ever opens another patient's record
    for key in (key1, key2):
        with pytest.raises(CryptoError):
            envelope.decrypt_bytes(other_header, other_body, user_key=key)
