"""Kill -9 the gateway during a 1,000-row ingest, restart it: every row shared exactly once
(the chain's RecordRegistered events and MedLedger's index agree), nothing dead-lettered."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from eth_account import Account

from clients.gateway.runtime import Runtime
from clients.gateway.sample.his import HisGenerator
from clients.gateway.sink.medledger import record_id_for
from clients.sdk import MedLedgerClient
from ledger_api.chain.records import RecordRegistry
from tests.clients.conftest import LiveStack
from tests.gateway.conftest import His

ROWS = 1000
PATIENTS = 5


def counts(state: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM shared GROUP BY state").fetchall())


def start(folder: Path, key: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MEDLEDGER_GATEWAY_KEY": key}
    return subprocess.Popen(
        [sys.executable, "-m", "clients.gateway.cli", "run", str(folder)],
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )


def wait_for(predicate, what: str, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_during_ingest_shares_every_row_once(tmp_path: Path, live_stack: LiveStack) -> None:
    his = His(
        f"sqlite:///{tmp_path / 'his.db'}",
        tmp_path / "gw",
        "his_",
        delay_s=0.0,
        medledger_url=live_stack.url,
    )
    patients = [Account.create() for _ in range(PATIENTS)]
    setup = Runtime(his.root, open_client=lambda: None, with_topics=False)  # type: ignore[arg-type,return-value]
    assert setup.sink is not None
    for i, account in enumerate(patients):
        with MedLedgerClient(live_stack.url, account=account) as wallet:
            wallet.register_patient_key()  # each patient opened their wallet once
        setup.sink.link(f"P{i:06d}", account.address)
    secret = setup.sink.secret
    state = setup.store.path
    setup.stop()
    gen = HisGenerator(11)
    base = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5)
    with his.engine.begin() as conn:
        conn.execute(
            his.tables.lab_result.insert(),
            [
                gen.lab_result(
                    f"P{i % PATIENTS:06d}", updated_at=base + dt.timedelta(milliseconds=i)
                )
                for i in range(ROWS)
            ],
        )
    key = live_stack.stack.cardiologist.key.hex()
    log = tmp_path / "gateway.log"
    first = start(his.root, key, log)
    try:
        wait_for(
            lambda: state.exists() and counts(state).get("shared", 0) >= 120,
            "the first shares",
            120,
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    before = counts(state)
    assert before.get("shared", 0) < ROWS, "killed too late to test anything"
    second = start(his.root, key, log)
    try:
        wait_for(lambda: counts(state).get("shared", 0) == ROWS, f"{ROWS} shared ({log})", 240)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
    assert counts(state) == {"shared": ROWS}
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0] == 0
    expected = {
        "0x" + record_id_for(secret, "his.pjxrmyy", "his_lab_result", str(i + 1)).hex()
        for i in range(ROWS)
    }
    indexed: list[str] = []
    for account in patients:
        with MedLedgerClient(live_stack.url, account=account) as client:
            indexed.extend(r.record_id for r in client.iter_records(account.address))
    assert len(indexed) == ROWS
    assert set(indexed) == expected
    stack = live_stack.stack
    registry = RecordRegistry(stack.w3, stack.deployment.address("RecordRegistry"))
    events = registry.contract.events.RecordRegistered.get_logs(
        from_block=stack.deployment.block_number
    )
    on_chain = ["0x" + bytes(e["args"]["id"]).hex() for e in events]
    assert len(on_chain) == ROWS
    assert set(on_chain) == expected
