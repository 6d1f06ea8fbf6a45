"""The monitoring page in a real browser (Debian chromium through playwright-core): counters,
the flow graph drawn from the YAML, zh-CN by default and English on request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from clients.gateway.runtime import Runtime
from clients.gateway.sample.his import seed_his
from clients.gateway.server.app import create_gateway_app
from ledger_api.chain.anvil import free_port
from tests.gateway.conftest import His
from tests.gateway.support import NoLedger

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("monitor_browser.mjs")


def test_monitor_page_in_chromium(sqlite_his: His, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail(
            "chromium is not installed: apt-get install -y --no-install-recommends chromium"
        )
    if not (ROOT / "node_modules" / "playwright-core").exists():
        pytest.fail("node_modules/playwright-core is missing: run `npm ci` (make install)")
    seed_his(sqlite_his.engine, sqlite_his.tables, patients=3, labs_each=2)
    with sqlite_his.engine.begin() as conn:  # one diagnosis that will not map
        conn.execute(
            sqlite_his.tables.diagnosis.update()
            .where(sqlite_his.tables.diagnosis.c.id == 1)
            .values(icd10="bad")
        )
    runtime = Runtime(sqlite_his.root, open_client=NoLedger, with_topics=False)
    runtime.run_once()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_gateway_app(runtime), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        done = subprocess.run(
            ["node", str(SCRIPT)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "MONITOR_URL": f"http://127.0.0.1:{port}/monitor",
                "ARTIFACTS": str(tmp_path / "artifacts"),
                "CHROMIUM": chromium,
                "EXPECT": json.dumps({"held": 8, "dead": 1, "consumed": 6}),
            },
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("OK"), done.stdout + done.stderr
        assert (tmp_path / "artifacts" / "01-monitor-zh.png").stat().st_size > 10_000
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        runtime.stop()
