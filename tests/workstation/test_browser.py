"""Clinicians and auditors in a real browser: Debian chromium driven by playwright-core.

The browser half is ``clients/workstation/e2e/workstation_flow.mjs``; this test prepares the
chain through the Python SDK over the real HTTP API (``live_stack``), starts the real GP
assistant service, runs the browser, and then checks on chain what the pages did:

The stack runs without the API's central key authority: cd3h and qyqchc each run their own
``medledger authority serve`` process registered on chain, so every record is an envelope v3
(one slot per institution reached, plus the patient's).

1. a cardiologist signs in with the keystore file ``medledger wallet`` wrote, fetches the
   attribute key from cd3h's own authority through the API's relay (attributes and epoch
   shown), sees the patient's timeline, opens a record (the read is signed and granted; the
   page checks the bytes against the chain's registration and decrypts them with mcl-wasm:
   the observation's values are shown), accepts the GP's referral and completes it with a
   summary written in a form — a FHIR Composition encrypted in the page and registered with
   the cardiologist as author —, reads the consultation's question (decrypted in the page
   too), then opens the chart by break-glass, with the banner shown;
2. the GP is refused a record of the cardiologist's and sees why (no consent) with the
   denial's transaction; the GP assistant suggests I10 while 高血压 is typed, the GP confirms it
   (the assistant records the feedback), and the intake panel assesses a chest pain;
3. an auditor filters the log by the GP, sees the denial, and reviews the break-glass opening
   (signed in the page).

Screenshots of every step: ``tests/workstation/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from clients.assistant.app import create_app as create_assistant
from clients.assistant.settings import AssistantSettings
from clients.sdk import MedLedgerClient
from clients.sdk.fhir import validate_resource
from clients.sdk.wallet import WalletStore
from clients.sdk.workflows import consultation_audience, referral_audience
from crypto.keys import SCRYPT_MIN_LOG2_N
from tests.api.conftest import ADMIN_KEY
from tests.authority.support import AuthorityProcess, init_authority, register
from tests.workstation.conftest import ARTIFACTS, ROOT, LiveStack

FLOW = ROOT / "clients" / "workstation" / "e2e" / "workstation_flow.mjs"
PASSWORD = "correct horse battery"
FIXTURES = ROOT / "clients" / "workstation" / "test" / "fixtures" / "fhir.json"


def fixture_resource(kind: str) -> bytes:
    resources = json.loads(FIXTURES.read_text(encoding="utf-8"))["resources"]
    found = next(r["resource"] for r in resources if r["resource"]["resourceType"] == kind)
    return json.dumps(found, ensure_ascii=False).encode()


@pytest.fixture
def stack_settings(workstation_dist: Path, assistant_port: int) -> dict[str, Any]:
    """The API (it holds no key: institutions run their own authorities)."""
    return {
        "workstation_dir": workstation_dist,
        "assistant_url": f"http://127.0.0.1:{assistant_port}",
    }


@pytest.fixture
def authorities(live_stack: LiveStack, tmp_path: Path) -> Iterator[dict[int, AuthorityProcess]]:
    """cd3h's and qyqchc's own key authorities, registered on chain and served."""
    stack = live_stack.stack
    keys = tmp_path / "authority-keys"
    keys.mkdir()
    found: dict[int, AuthorityProcess] = {}
    deployment = stack.settings.deployment_file
    try:
        for inst in (stack.cd3h, stack.qyqchc):
            authority = init_authority(keys, inst)
            done = register(
                authority, admin_key=ADMIN_KEY, rpc=stack.settings.rpc_url, deployment=deployment
            )
            assert done.returncode == 0, done.stderr + done.stdout
            authority.start(rpc=stack.settings.rpc_url, deployment=deployment)
            found[inst] = authority
        yield found
    finally:
        for authority in found.values():
            authority.stop()


class AssistantServer:
    """The real assistant service (uvicorn in a thread) allowing the API's origin."""

    def __init__(self, port: int, data_dir: Path, origin: str) -> None:
        settings = AssistantSettings(data_dir=data_dir, cors_origins=[origin])
        config = uvicorn.Config(
            create_assistant(settings), host="127.0.0.1", port=port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="assistant", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive(), "the assistant did not start"
            assert time.monotonic() < deadline, "the assistant did not start in 60 s"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def test_workstation_in_chromium(
    live_stack: LiveStack,
    authorities: dict[int, AuthorityProcess],
    chromium: str,
    assistant_port: int,
    tmp_path: Path,
) -> None:
    stack = live_stack.stack
    patient_address = stack.patient.address
    audience = referral_audience("cd3h", "cardiology")
    with (
        MedLedgerClient(live_stack.url, account=stack.gp) as gp,
        MedLedgerClient(live_stack.url, account=stack.cardiologist) as cardio,
        MedLedgerClient(live_stack.url, account=stack.patient) as patient,
    ):
        patient.register_patient_key()  # the patient slot of every v3 record written for them
        observation = gp.share(
            fixture_resource("Observation"),
            patient=patient_address,
            policy="dept:cardiology",
            record_type="Observation",
            content_type="application/fhir+json",
        )
        patient.grant(grantee=stack.cardiologist.address, record_id=observation.record_id)
        # a record the cardiologist was granted, then the patient revoked: locked, and why
        revoked = gp.share(
            fixture_resource("MedicationRequest"),
            patient=patient_address,
            policy="dept:cardiology",
            record_type="MedicationRequest",
            content_type="application/fhir+json",
        )
        grant = patient.grant(grantee=stack.cardiologist.address, record_id=revoked.record_id)
        patient.revoke(grant.consent_id)
        denied = cardio.share(
            fixture_resource("Condition"),
            patient=patient_address,
            policy="dept:cardiology",
            record_type="Condition",
            content_type="application/fhir+json",
        )
        letter = gp.share(
            fixture_resource("Composition"),
            patient=patient_address,
            policy=audience,
            record_type="Composition",
            content_type="application/fhir+json",
        )
        consents = patient.sign_workflow_consents(
            purpose="referral", audience_policy=audience, record_ids=[letter.record_id]
        )
        circle = consultation_audience(["cd3h"])
        question = gp.share(
            fixture_resource("ServiceRequest"),
            patient=patient_address,
            policy=circle,
            record_type="ServiceRequest",
            content_type="application/fhir+json",
        )
        consultation = gp.create_consultation(
            patient=patient_address,
            question_record_id=question.record_id,
            consents=patient.sign_workflow_consents(
                purpose="consultation", audience_policy=circle, record_ids=[question.record_id]
            ),
            invited_institutions=["cd3h"],
        )
        referral = gp.create_referral(
            patient=patient_address,
            to_institution="cd3h",
            department="cardiology",
            reason_record_id=letter.record_id,
            consents=consents,
            urgency="urgent",
        )
    store = WalletStore(tmp_path / "wallets", scrypt_log2_n=SCRYPT_MIN_LOG2_N)
    keystores = {
        name: store.import_key(name, "0x" + account.key.hex().removeprefix("0x"), PASSWORD).path
        for name, account in (
            ("li-ming", stack.cardiologist),
            ("wang-fang", stack.gp),
            ("auditor", stack.auditor),
        )
    }
    assistant = AssistantServer(assistant_port, tmp_path / "assistant", live_stack.url)
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    try:
        config = httpx.get(f"{live_stack.url}/workstation/config.json").json()
        assert config == {"assistant_url": assistant.url}
        done = subprocess.run(
            ["node", str(FLOW)],
            cwd=ROOT,
            env={
                **os.environ,
                "WS_URL": f"{live_stack.url}/workstation/",
                "ARTIFACTS": str(ARTIFACTS),
                "CHROMIUM": chromium,
                "PASSWORD": PASSWORD,
                "PATIENT": patient_address,
                "REFERRAL": referral.referral_id,
                "DENIED_RECORD": denied.record_id,
                "OBSERVATION": observation.record_id,
                "REVOKED_RECORD": revoked.record_id,
                "CONSULTATION": consultation.consultation_id,
                "GP": stack.gp.address,
                "CARDIO_KEYSTORE": str(keystores["li-ming"]),
                "GP_KEYSTORE": str(keystores["wang-fang"]),
                "AUDITOR_KEYSTORE": str(keystores["auditor"]),
            },
            capture_output=True,
            text=True,
            timeout=480,
        )
    finally:
        assistant.stop()
    lines = [line for line in done.stdout.splitlines() if line.startswith(("RESULT ", "FAIL "))]
    assert lines, f"the browser script printed nothing:\n{done.stdout}\n{done.stderr}"
    if lines[-1].startswith("FAIL "):
        pytest.fail(f"the browser failed: {lines[-1][5:]}\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][7:])
    assert result["problems"] == []

    # 1. the cardiologist: key facts, QR, timeline, a granted read decrypted in the page
    assert "dept:cardiology" in result["keyFacts"]
    assert "org:cd3h" in result["keyFacts"]  # issued by cd3h's own authority
    assert result["qr"].startswith("data:image/png;base64,")
    assert result["records"] == 3  # the observation, the letter, the consultation question
    assert result["openedViews"] >= 1, result["openedText"]
    assert "白细胞计数" in result["openedText"]  # the observation's values, decrypted
    assert "decryption not available" not in result["openedText"]
    assert "授权已被患者撤销" in result["revokedLock"]
    with MedLedgerClient(live_stack.url, account=stack.auditor) as auditor:
        reads = auditor.access_events(accessor=stack.cardiologist.address).items
        readable = (observation.record_id, letter.record_id, question.record_id)
        opened = [e for e in reads if e["record_id"] in readable]
        assert opened
        assert all(e["granted"] for e in opened)  # signed in the page, logged, granted

        # the referral: accepted and completed in the page, the summary the cardiologist's
        with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
            final = gp.referral(referral.referral_id)
        assert final.state == "completed", result.get("summaryError")
        assert final.summary_record_id
        # encrypted in the page, decrypted in Python by the referring GP: a valid Composition
        with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
            plain = gp.fetch_bytes(
                final.summary_record_id, user_key=gp.fetch_member_key(), purpose="referral"
            )
        document = validate_resource(plain)
        composition = json.loads(plain)
        assert composition["resourceType"] == "Composition"
        assert document is not None
        assert [s["title"] for s in composition["section"]] == [
            "诊断", "主要检查结果", "诊疗经过", "随访建议"
        ]  # fmt: skip
        assert "HFrEF" in composition["section"][0]["text"]["div"]
        # the page wrapped the patient slot to the key the patient registered (read through
        # GET /patient-keys/{patient}), not to one derived from the clinician's wallet
        with MedLedgerClient(live_stack.url, account=stack.patient) as own:
            own.login()
            assert own.fetch_bytes(final.summary_record_id, patient_key=own.patient_key()) == plain
            registered = httpx.get(f"{live_stack.url}/patient-keys/{patient_address}").json()
            assert registered["public_key"] == "0x" + own.patient_key().public_key.hex()
        stranger = httpx.get(f"{live_stack.url}/patient-keys/0x{'ab' * 20}")
        assert stranger.status_code == 404
        assert stranger.json()["error"]["code"] == "patient_key_missing"
        assert httpx.get(f"{live_stack.url}/patient-keys/0x12").status_code == 422
        assert "已完成" in result["referralsText"]

        # the consultation: the question decrypted in the page, an opinion posted,
        # encrypted in the page and signed there; the requesting GP decrypts it in Python
        assert result["questionViews"] >= 1, result["questionText"]
        assert "Referral to cardiology" in result["questionText"]
        assert "decryption not available" not in result["questionText"]
        with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
            asked = gp.consultation(consultation.consultation_id)
            assert asked.opinion_count == 1
            (opinion,) = asked.opinions
            assert opinion.author == stack.cardiologist.address
            answer = json.loads(
                gp.fetch_bytes(
                    opinion.record_id, user_key=gp.fetch_member_key(), purpose="consultation"
                )
            )
        assert answer["resourceType"] == "Composition"
        assert "利尿" in answer["section"][0]["text"]["div"]
        assert patient_address in result["banner"]

        # 2. the GP is refused and told why, with the denial's transaction
        assert "患者未授权" in result["gpDenied"]
        denials = auditor.access_events(
            accessor=stack.gp.address, record=denied.record_id, granted=False
        ).items
        assert denials
        assert denials[0]["reason_code"] == 10
        assert denials[0]["tx_hash"] in result["gpDenied"]

        # the assistant: I10 suggested while typing, marked as a suggestion, confirmed
        assert "I10" in result["suggestions"]
        assert "建议" in result["suggestions"]
        assert "I10" in result["diagnosisTag"]
        assert "医生已确认" in result["diagnosisTag"]
        with sqlite3.connect(tmp_path / "assistant" / "feedback.db") as db:
            outcomes = [row[0] for row in db.execute("SELECT outcome FROM feedback")]
        assert outcomes == ["accepted"]
        assert result["intake"]
        assert result["englishNav"] == "GP assistant"

        # 3. the auditor saw the GP's denial and reviewed the opening, signed in the page
        assert result["deniedRows"] >= 1
        assert "拒绝" in result["auditRows"]
        csv_lines = result["csv"].lstrip("\ufeff").strip().split("\r\n")
        assert csv_lines[0].startswith("block_time,record_id,patient,accessor,institution")
        assert any(denials[0]["tx_hash"] in line and ",no_consent," in line for line in csv_lines)
        openings = auditor.break_glass_openings().items
        (opening,) = [o for o in openings if o.id == result["openingReviewed"]]
        assert opening.clinician == stack.cardiologist.address
        assert opening.reviewed
        assert opening.justified
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert len(shots) >= 18, shots
