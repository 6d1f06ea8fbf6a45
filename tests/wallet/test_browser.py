"""The patient's story in a real browser: Debian chromium driven by playwright-core.

The browser half is ``clients/webwallet/e2e/wallet_flow.mjs``; this test plays everyone else
over the real HTTP API (``live_stack``) and checks the chain between the steps:

1. the page creates a wallet (key generated in the browser, kept only as an encrypted keystore
   in localStorage) and signs in with EIP-4361;
2. the GP shares a record for that patient through the Python SDK (the page's own upload is
   tested in ``test_browser_encrypt.py``);
3. the page grants the cardiologist that record: an EIP-712 consent signed by ethers in the
   browser, relayed by the API — ``ConsentManager.isAllowed`` must say yes, and the doctor reads;
4. the server ends the page's session; the page revokes the grant with one tap anyway (it
   signs in again by itself, SIWE with the wallet still unlocked) — ``isAllowed`` says no, and
   the doctor's next reads (for treatment, then as an emergency) are refused and logged;
5. the page's access history shows those refused reads, the emergency one highlighted;
6. the page grants a group picked from ``/directory`` (cd3h cardiologists, consultations): the
   policy hash made in the browser is admitted by ``ConsentManager.isAllowedForPolicy``;
   the keystore the page exports opens with eth-account and the CLI's wallet store.

Screenshots of every step: ``tests/wallet/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from eth_account import Account

from clients.sdk import MedLedgerClient
from clients.sdk.errors import ApiError, NotAllowedError
from clients.sdk.wallet import WalletStore
from crypto.policy import policy_hash
from crypto.signing import Purpose
from ledger_api.chain.consents import ConsentManager
from storage.models import ApiSession
from tests.clients.conftest import LiveStack
from tests.wallet.conftest import ARTIFACTS, ROOT

FLOW = ROOT / "clients" / "webwallet" / "e2e" / "wallet_flow.mjs"
STEP_TIMEOUT = 45.0


class BrowserFlow:
    """The node script as a peer: read its ``STEP name {json}`` lines, answer ``go``."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["node", str(FLOW)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def expect(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the browser did not reach step {name!r} in {STEP_TIMEOUT} s")
            if line is None:
                pytest.fail(f"the browser script ended before {name!r}: {''.join(self.stderr)}")
            if line.startswith("FAIL "):
                pytest.fail(f"the browser failed before {name!r}: {line[5:]}")
            if line.startswith("STEP "):
                got, _, payload = line[5:].partition(" ")
                assert got == name, f"expected step {name!r}, the browser says {got!r}"
                return json.loads(payload)

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def end_sessions(database_url: str, address: str) -> int:
    """Revoke ``address``'s live sessions in the API's database (as a logout elsewhere would)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            return connection.execute(
                sa.update(ApiSession)
                .where(ApiSession.address == address.lower(), ApiSession.revoked.is_(False))
                .values(revoked=True, revoked_at=datetime.now(UTC))
            ).rowcount
    finally:
        engine.dispose()


def live_sessions(database_url: str, address: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.select(sa.func.count())
                .select_from(ApiSession)
                .where(ApiSession.address == address.lower(), ApiSession.revoked.is_(False))
            ).scalar_one()
    finally:
        engine.dispose()


def wait_for(predicate: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_patient_wallet_in_chromium(live_stack: LiveStack, chromium: str, tmp_path: Path) -> None:
    stack = live_stack.stack
    doctor_address = stack.cardiologist.address
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("*"):
        old.unlink()
    manager = ConsentManager(stack.w3, stack.deployment.address("ConsentManager"))
    flow = BrowserFlow(
        {
            "WALLET_URL": f"{live_stack.url}/wallet/",
            "ARTIFACTS": str(ARTIFACTS),
            "DOCTOR": doctor_address,
            "CHROMIUM": chromium,
        }
    )
    try:
        # 1. wallet made in the page; only an encrypted keystore is stored
        signed_in = flow.expect("signed-in")
        patient = signed_in["address"]
        assert patient.startswith("0x")
        assert patient != stack.patient.address  # a fresh key from the browser
        stored = json.loads(signed_in["stored"])
        assert [w["address"] for w in stored] == [patient]
        keystore = {k.lower(): v for k, v in json.loads(stored[0]["keystore"]).items()}
        assert keystore["crypto"]["kdf"] == "scrypt"  # Web3 Secret Storage, as eth-account
        assert signed_in["wrongPasswordMessage"] == "密码错误。"

        # the page registers the patient's own key on chain at first sign-in (the patient
        # slot of every record written for them), in the background
        deadline = time.monotonic() + 30
        while manager.patient_key_of(patient)[1] == 0:
            assert time.monotonic() < deadline, "the page did not register the patient's key"
            time.sleep(0.2)

        # 2. the GP shares a record for this patient (on their behalf, through the SDK)
        with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
            info = gp.share(
                b"ECG 2026-11-26: sinus rhythm, 72 bpm\n",
                patient=patient,
                policy="dept:cardiology",
                record_type="ECG",
            )
        flow.go()

        # 3. the grant the browser signed with ethers is in force on chain
        granted = flow.expect("granted")
        assert granted["recordId"] == info.record_id
        assert "ECG" in granted["recordText"]
        assert "青羊区社区卫生服务中心" in granted["recordText"]  # the author's institution
        assert doctor_address in granted["summary"]
        record_id = bytes.fromhex(info.record_id[2:])
        assert manager.is_allowed(
            patient=patient, grantee=doctor_address, record_id=record_id, purpose=Purpose.TREATMENT
        )
        with MedLedgerClient(live_stack.url, account=stack.cardiologist) as doctor:
            listed = doctor.consents(grantee=doctor_address).items
            assert [c["consent_id"] for c in listed] == [granted["consentId"]]
            assert listed[0]["patient"] == patient
            key = doctor.reader_key()
            assert doctor.fetch_bytes(info.record_id, user_key=key).startswith(b"ECG 2026")
            # the server ends the page's session: its next call must sign in again by itself
            assert end_sessions(stack.settings.database_url, patient) == 1
            flow.go()

            # 4. revoked with one tap: the chain refuses the doctor from now on
            revoked = flow.expect("revoked")
            assert live_sessions(stack.settings.database_url, patient) == 1  # renewed by SIWE
            assert revoked["ended"] == 1
            assert revoked["active"] == 0
            assert "撤销" in revoked["notice"]
            assert not manager.is_allowed(
                patient=patient,
                grantee=doctor_address,
                record_id=record_id,
                purpose=Purpose.TREATMENT,
            )
            with pytest.raises(NotAllowedError):
                doctor.fetch_bytes(info.record_id, user_key=key)
            # an emergency read: refused today, or a break-glass opening where the API has one;
            # either way it is logged on chain with purpose emergency
            with contextlib.suppress(ApiError):
                doctor.fetch_bytes(info.record_id, user_key=key, purpose="emergency")
        logged = [e for e in stack.access_logged() if bytes(e["recordId"]) == record_id]
        with MedLedgerClient(live_stack.url, account=stack.auditor) as auditor:
            wait_for(
                lambda: auditor.access_events(record=info.record_id).total >= len(logged),
                "the reads in the index",
            )
        flow.go()

        # 5. the history in the page: the refused reads, the emergency one highlighted
        history = flow.expect("history")
        events = history["events"]
        doctor_events = [e for e in events if e["accessor"] == doctor_address]
        # newest first: the emergency attempt(s), the refused treatment read, then the granted
        # reads before the revocation (the SDK's fetch logs header and body: one decision each)
        emergency = [e for e in doctor_events if e["purpose"] == "emergency"]
        treatment = [e for e in doctor_events if e["purpose"] == "treatment"]
        assert emergency
        assert all(e["breakglass"] for e in emergency)  # break-glass highlighted
        assert doctor_events[: len(emergency)] == emergency
        assert treatment[0]["granted"] is False  # refused after the revocation
        assert treatment[1:]
        assert all(e["granted"] for e in treatment[1:])
        assert not any(e["breakglass"] for e in treatment)
        assert len(doctor_events) == len(emergency) + len(treatment)
        flow.go()

        # 6. a group grant from the directory: its policy hash, made in the browser, is the
        # one crypto.policy gives, and ConsentManager admits that policy for consultations
        group = flow.expect("group-granted")
        policy = "dept:cardiology and org:cd3h and role:doctor"
        assert policy in group["groupSummary"]
        assert policy in group["groupText"]  # listed back by the API with its policy text
        assert "会诊" in group["groupText"]  # consultation
        assert "即将到期" in group["groupText"]  # three days: expiring soon
        assert manager.is_allowed_for_policy(
            patient=patient,
            policy_hash=policy_hash(policy),
            record_id=bytes(32),
            purpose=Purpose.CONSULTATION,
        )
        flow.go()

        done = flow.expect("done")
        assert done["englishTitle"].startswith("Access history")
        assert done["problems"] == []  # no page errors, console errors or "null" on screen
        assert done["unauthorized"] == 1  # the ended session, renewed once

        # the exported keystore is a standard one: eth-account and the CLI's store open it
        exported = Path(done["exported"]).read_text(encoding="utf-8")
        key_bytes = Account.decrypt(exported, done["password"])
        assert Account.from_key(key_bytes).address == patient
        assert key_bytes.hex() not in signed_in["stored"]  # never stored in the clear
        imported = WalletStore(tmp_path).import_keystore("zhang-san", exported, done["password"])
        assert imported.address == patient
        assert flow.proc.wait(timeout=STEP_TIMEOUT) == 0
    finally:
        flow.close()
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert len(shots) == 12, shots
