"""Find a patient through the hospital's gateway index, in a real browser (Debian's chromium).

The API is configured with ``MEDLEDGER_GATEWAY_URL`` naming a real gateway (``clients/gateway``
over a SQLite HIS, served by uvicorn) whose master patient index links a hospital patient id to
the patient's wallet (``gateway link``), with an index key for the workstation and CORS for the
API's origin. ``clients/workstation/e2e/gateway_flow.mjs``: the GP types a patient id that is
not linked (told so), a wrong key (told so), then the right id and key: the address is filled
in from the index and the patient's timeline loads. Screenshots: ``artifacts/gw-*.png``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from clients.gateway.runtime import Runtime
from clients.gateway.server.app import create_gateway_app
from clients.gateway.server.keys import create_key
from clients.sdk import MedLedgerClient
from clients.sdk.wallet import WalletStore
from crypto.keys import SCRYPT_MIN_LOG2_N
from tests.gateway.conftest import His, sqlite_his  # noqa: F401
from tests.gateway.support import NoLedger
from tests.workstation.conftest import ARTIFACTS, ROOT, LiveStack, free_port
from tests.workstation.test_browser import fixture_resource

FLOW = ROOT / "clients" / "workstation" / "e2e" / "gateway_flow.mjs"
PASSWORD = "correct horse battery"
MRN = "ZY20260001"  # 住院号 in the HIS


@pytest.fixture(scope="session")
def gateway_port() -> int:
    return free_port()


@pytest.fixture
def stack_settings(workstation_dist: Path, gateway_port: int) -> dict[str, Any]:
    return {"workstation_dir": workstation_dist, "gateway_url": f"http://127.0.0.1:{gateway_port}"}


@pytest.fixture
def gateway(
    live_stack: LiveStack,
    sqlite_his: His,  # noqa: F811
    gateway_port: int,
) -> Iterator[tuple[Runtime, str]]:
    """The hospital's gateway: index key ``workstation``, the API's origin allowed."""
    config = sqlite_his.root / "gateway.yaml"
    text = config.read_text()
    assert "server: {host: 127.0.0.1, port: 8780}" in text
    config.write_text(
        text.replace(
            "server: {host: 127.0.0.1, port: 8780}",
            f"server: {{host: 127.0.0.1, port: {gateway_port}, index_keys: [workstation], "
            f"cors_origins: ['{live_stack.url}']}}",
        ),
        encoding="utf-8",
    )
    runtime = Runtime(sqlite_his.root, open_client=NoLedger, with_topics=False)
    key = create_key(runtime.store, "workstation")
    server = uvicorn.Server(
        uvicorn.Config(
            create_gateway_app(runtime), host="127.0.0.1", port=gateway_port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the gateway did not start"
        assert time.monotonic() < deadline, "the gateway did not start in 60 s"
        time.sleep(0.05)
    try:
        yield runtime, key
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        runtime.stop()


def test_find_a_patient_through_the_gateway_index(
    live_stack: LiveStack, gateway: tuple[Runtime, str], chromium: str, tmp_path: Path
) -> None:
    stack = live_stack.stack
    runtime, key = gateway
    runtime.sink.link(MRN, stack.patient.address)  # `gateway link ZY20260001 0x…`
    with (
        MedLedgerClient(live_stack.url, account=stack.gp) as gp,
        MedLedgerClient(live_stack.url, account=stack.patient) as patient,
    ):
        shared = gp.share(
            fixture_resource("Observation"),
            patient=stack.patient.address,
            policy="role:doctor",
            record_type="Observation",
            content_type="application/fhir+json",
        )
        patient.grant(grantee=stack.gp.address, record_id=shared.record_id)
    store = WalletStore(tmp_path / "wallets", scrypt_log2_n=SCRYPT_MIN_LOG2_N)
    keystore = store.import_key(
        "wang-fang", "0x" + stack.gp.key.hex().removeprefix("0x"), PASSWORD
    ).path
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("gw-*.png"):
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
            "KEYSTORE": str(keystore),
            "MRN": MRN,
            "GATEWAY_KEY": key,
            "RECORD": shared.record_id,
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
    assert "尚未" in result["notLinked"]  # an id the index does not know
    assert "拒绝" in result["badKey"]  # a key the gateway refuses
    assert result["address"] == stack.patient.address  # filled in from the index
    assert result["listed"] == 1  # the patient's timeline, as the API decides
    shots = sorted(p.name for p in ARTIFACTS.glob("gw-*.png"))
    assert len(shots) >= 3, shots
