"""Break-glass past the daily cap in the workstation, in a real browser (Debian's chromium).

The stack is the workstation e2e's (``test_browser.py``): no central key authority, cd3h and
qyqchc each serving their own, so records are envelope v3. The chain's daily cap is 1 and
the cardiologist already opened one chart today (through the SDK), so the next opening needs
a second doctor's co-signature. ``clients/workstation/e2e/break_glass_flow.mjs`` drives two
browser contexts: the cardiologist is refused (cap) and shown the co-signature request, the GP
signs it in her page, the cardiologist opens the chart with it; the banner shows, and a record
the patient never consented to is listed for ``emergency``, read and decrypted in the page
(its policy, ``dept:cardiology``, admits the cardiologist's own attribute key: the consent
gate, not the encryption, kept it closed). The two authorities made the consortium emergency
key (``authority dkg``, t = 2 of n = 2), so a record written for qyqchc only, whose slots the
cardiologist's key does not open, is decrypted in the page with its threshold emergency slot:
the page asks both authorities through the API's relay for their decryption shares (a request
its wallet signs), checks each share's proof and combines them; a record written without that
slot stays locked, with why. Then the chain is checked: the opening with the GP as co-signer,
the reads logged as granted by break-glass, and each authority's release logged.

Screenshots of every step: ``tests/workstation/artifacts/bg-*.png`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

import contracts
from clients.sdk import MedLedgerClient
from clients.sdk.wallet import WalletStore
from crypto.keys import SCRYPT_MIN_LOG2_N
from tests.api.conftest import ADMIN_KEY
from tests.authority.emergency_support import run_dkg
from tests.authority.support import AuthorityProcess, init_authority, register
from tests.workstation.conftest import ARTIFACTS, ROOT, LiveStack
from tests.workstation.test_browser import fixture_resource

FLOW = ROOT / "clients" / "workstation" / "e2e" / "break_glass_flow.mjs"
PASSWORD = "correct horse battery"
BREAK_GLASS_REASON = 4  # AccessLog reason code of a read granted by an opening


@pytest.fixture
def stack_settings(workstation_dist: Path) -> dict[str, Any]:
    """Institutions' own authorities, and a daily cap of one opening per clinician."""
    return {
        "workstation_dir": workstation_dist,
        "break_glass_daily_cap": 1,
    }


@pytest.fixture
def authorities(live_stack: LiveStack, tmp_path: Path) -> Iterator[dict[int, AuthorityProcess]]:
    """cd3h's and qyqchc's own key authorities, registered on chain, the consortium emergency
    key made by both (t = 2 of n = 2), then served."""
    stack = live_stack.stack
    keys = tmp_path / "authority-keys"
    keys.mkdir()
    rpc, deployment = stack.settings.rpc_url, stack.settings.deployment_file
    found = {inst: init_authority(keys, inst) for inst in (stack.cd3h, stack.qyqchc)}
    for authority in found.values():
        done = register(authority, admin_key=ADMIN_KEY, rpc=rpc, deployment=deployment)
        assert done.returncode == 0, done.stderr + done.stdout
    run_dkg(list(found.values()), rpc=rpc, deployment=deployment, admin_key=ADMIN_KEY, t=2)
    try:
        for authority in found.values():
            authority.start(rpc=rpc, deployment=deployment)
        yield found
    finally:
        for authority in found.values():
            authority.stop()


def test_break_glass_with_cosignature_in_chromium(
    live_stack: LiveStack,
    authorities: dict[int, AuthorityProcess],
    chromium: str,
    tmp_path: Path,
) -> None:
    stack = live_stack.stack
    patient_address = stack.patient.address
    with (
        MedLedgerClient(live_stack.url, account=stack.gp) as gp,
        MedLedgerClient(live_stack.url, account=stack.cardiologist) as cardio,
        MedLedgerClient(live_stack.url, account=stack.patient) as patient,
    ):
        patient.register_patient_key()
        # written for cardiology, never consented to: closed to the cardiologist until now
        emergency = gp.share(
            fixture_resource("Observation"),
            patient=patient_address,
            policy="dept:cardiology",
            record_type="Observation",
            content_type="application/fhir+json",
        )
        # written for qyqchc only: no slot the cardiologist's key opens; its threshold
        # emergency slot does, with both institutions' shares
        sealed_off = gp.share(
            fixture_resource("Condition"),
            patient=patient_address,
            policy="org:qyqchc",
            record_type="Condition",
            content_type="application/fhir+json",
        )
        # the same, written without an emergency slot (as before the consortium had a key)
        slotless = gp.share(
            fixture_resource("Condition"),
            patient=patient_address,
            policy="org:qyqchc",
            record_type="Condition",
            content_type="application/fhir+json",
            emergency_slot=False,
        )
        time.sleep(1.1)  # the opening's block is a later second than the records'
        # today's one opening without a co-signature, of another patient's chart
        cardio.break_glass(Account.create().address, reason="急诊抢救：另一位昏迷患者的病历")
    store = WalletStore(tmp_path / "wallets", scrypt_log2_n=SCRYPT_MIN_LOG2_N)
    keystores = {
        name: store.import_key(name, "0x" + account.key.hex().removeprefix("0x"), PASSWORD).path
        for name, account in (("li-ming", stack.cardiologist), ("wang-fang", stack.gp))
    }
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("bg-*.png"):
        old.unlink()
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
            "EMERGENCY_RECORD": emergency.record_id,
            "SEALED_RECORD": sealed_off.record_id,
            "SLOTLESS_RECORD": slotless.record_id,
            "CARDIO_KEYSTORE": str(keystores["li-ming"]),
            "GP_KEYSTORE": str(keystores["wang-fang"]),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(("RESULT ", "FAIL "))]
    assert lines, f"the browser script printed nothing:\n{done.stdout}\n{done.stderr}"
    if lines[-1].startswith("FAIL "):
        pytest.fail(f"the browser failed: {lines[-1][5:]}\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][7:])
    assert result["problems"] == []

    # 1. refused by the cap, told so, no banner; the request names this opening
    assert result["before"] == 0
    assert "上限" in result["capError"]
    assert result["bannersBefore"] == 0
    request = json.loads(result["request"])
    assert request["clinician"].lower() == stack.cardiologist.address.lower()
    assert request["patient"].lower() == patient_address.lower()
    assert "自己" in result["ownRequest"]  # one's own request: not co-signable
    assert result["ownSignDisabled"]
    # 2. the GP read who asks, for whom and why before signing; the co-signature of that opening
    assert "无法识别" in result["badRequest"]
    assert "doctor · cardiology" in result["summary"]  # the directory names the asker
    assert patient_address in result["summary"]
    assert "患者昏迷送入急诊" in result["summary"]
    cosignature = json.loads(result["cosignature"])
    assert cosignature["co_signer"].lower() == stack.gp.address.lower()
    # 3. opened: banner, the record listed for emergency, decrypted in the page
    assert patient_address in result["banner"]
    assert "急救" in result["listed"]  # the purpose that opens it: emergency
    assert result["openedViews"] >= 1, result["openedText"]
    assert "白细胞计数" in result["openedText"]
    # listed and read too; no key of the cardiologist's opens it, its threshold slot does
    assert result["sealedLocked"] == 0, result["sealedText"]
    assert result["sealedViews"] >= 1, result["sealedText"]
    assert result["sealedThreshold"] == 1, result["sealedText"]
    assert "联合解密" in result["sealedText"]  # the page says how it was opened
    # without an emergency slot: locked, and why
    assert result["slotlessViews"] == 0
    assert result["slotlessLocked"] == 1, result["slotlessText"]
    assert "紧急密钥槽" in result["slotlessText"]

    with MedLedgerClient(live_stack.url, account=stack.auditor) as auditor:
        openings = auditor.break_glass_openings().items
        (opening,) = [o for o in openings if o.id == request["openingId"]]
        assert opening.clinician == stack.cardiologist.address
        assert opening.patient == patient_address
        assert opening.co_signer == stack.gp.address
        assert opening.open
        reads = auditor.access_events(
            accessor=stack.cardiologist.address, record=emergency.record_id
        ).items
        assert reads
        assert all(e["granted"] for e in reads)
        assert {e["reason_code"] for e in reads} == {BREAK_GLASS_REASON}
    # each institution's authority logged its release of the threshold record's share, under
    # this opening; nothing was released for the record without a slot
    board = stack.w3.eth.contract(
        address=stack.deployment.address("EmergencyKeys"),
        abi=contracts.load("EmergencyKeys")["abi"],
    )
    released = board.events.EmergencyShareReleased().get_logs(from_block=0)
    assert sorted(
        (e["args"]["institutionId"], "0x" + e["args"]["recordId"].hex()) for e in released
    ) == [(stack.cd3h, sealed_off.record_id), (stack.qyqchc, sealed_off.record_id)]
    assert {"0x" + e["args"]["openingId"].hex() for e in released} == {request["openingId"]}
    shots = sorted(p.name for p in ARTIFACTS.glob("bg-*.png"))
    assert len(shots) >= 8, shots
    assert not [s for s in shots if "failure" in s], shots
