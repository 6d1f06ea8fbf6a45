"""People, not hex, in Chromium on a 390-px phone screen (``e2e/grant_people.mjs``).

The patient grants the cardiologist by choosing 成都市第三人民医院 → 心内科 → the doctor from
the directory, and the GP by loading a picture of the GP's QR code (``ethereum:0x…``, as the
workstation shows it); a QR whose EIP-55 checksum was broken is refused first. Both consents
must be in force on chain. The cardiologist then reads the record, and the access history
names them (role · department · institution) with the address one click away. Screenshots:
tests/wallet/artifacts/people-*.png.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from eth_account import Account

from clients.sdk import MedLedgerClient
from crypto.signing import Purpose
from ledger_api.chain.consents import ConsentManager
from tests.clients.conftest import LiveStack
from tests.wallet.conftest import ARTIFACTS, ROOT

FLOW = ROOT / "clients" / "webwallet" / "e2e" / "grant_people.mjs"


def run_phase(env: dict[str, str], phase: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(FLOW)],
        cwd=ROOT,
        env={**os.environ, **env, "PHASE": phase},
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(("STEP ", "FAIL "))]
    assert lines, f"the browser script said nothing: {done.stderr[-2000:]}"
    assert lines[-1].startswith(f"STEP {phase} "), lines[-1]
    return json.loads(lines[-1].removeprefix(f"STEP {phase} "))


def test_patient_grants_people_not_hex(live_stack: LiveStack, chromium: str) -> None:
    stack = live_stack.stack
    patient = Account.create()
    with MedLedgerClient(live_stack.url, account=patient) as wallet:
        wallet.register_patient_key()  # as the wallet does at first sign-in
    cardiologist, gp = stack.cardiologist.address, stack.gp.address
    with MedLedgerClient(live_stack.url, account=stack.gp) as client:
        info = client.share(
            b"ECG 2026-11-26: sinus rhythm, 72 bpm\n",
            patient=patient.address,
            policy="dept:cardiology",
            record_type="ECG",
        )
    ARTIFACTS.mkdir(exist_ok=True)
    env = {
        "WALLET_URL": f"{live_stack.url}/wallet/",
        "ARTIFACTS": str(ARTIFACTS),
        "CHROMIUM": chromium,
        "PATIENT_KEY": "0x" + bytes(patient.key).hex(),
        "RECORD_ID": info.record_id,
        "CARDIOLOGIST": cardiologist,
        "GP": gp,
    }
    granted = run_phase(env, "grant")
    assert "成都市第三人民医院" in granted["institutions"]
    assert any("医生" in d for d in granted["doctors"])
    # the summary names the doctor (and still shows the exact address signed for)
    assert "心内科" in granted["directorySummary"]
    assert "成都市第三人民医院" in granted["directorySummary"]
    assert cardiologist in granted["directorySummary"]
    assert "心内科 · 成都市第三人民医院" in granted["directoryConsent"]
    assert "校验" in granted["refused"]  # the tampered QR: EIP-55 checksum refused
    assert "全科 · 青羊区社区卫生服务中心" in granted["found"]
    assert gp in granted["qrSummary"]
    assert "青羊区社区卫生服务中心" in granted["qrConsent"]
    manager = ConsentManager(stack.w3, stack.deployment.address("ConsentManager"))
    record_id = bytes.fromhex(info.record_id[2:])
    for grantee in (cardiologist, gp):
        assert manager.is_allowed(
            patient=patient.address,
            grantee=grantee,
            record_id=record_id,
            purpose=Purpose.TREATMENT,
        ), grantee

    with MedLedgerClient(live_stack.url, account=stack.cardiologist) as doctor:
        key = doctor.reader_key()
        assert doctor.fetch_bytes(info.record_id, user_key=key).startswith(b"ECG 2026")

    history = run_phase(env, "history")
    assert "医生 · 心内科 · 成都市第三人民医院" in history["who"]
    assert history["address"] == cardiologist
    assert all("0x" not in who or "不在目录中" in who for who in history["all"])
    assert (ARTIFACTS / "people-history.png").is_file()
