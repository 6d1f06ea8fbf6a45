"""``medledger serve --workers N``: N processes on one port, each with its own relayer key.

Real processes: the parent binds the port, spawns the workers (``MEDLEDGER_WORKER_INDEX`` i →
line i of ``MEDLEDGER_RELAYER_KEYS_FILE``), starts again a worker killed with ``kill -9``, and
stops them all on Ctrl-C. Without a key file, or with fewer keys than workers, it refuses in
one line before anything starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from eth_account import Account
from typer.testing import CliRunner

from clients.cli import app
from clients.sdk import MedLedgerClient
from ledger_api.chain.deploy import ROLE_RELAYER
from tests.api.conftest import RELAYER_KEY, Stack
from tests.clients.cli.test_serve import MEDLEDGER, database_url, service_env  # noqa: F401
from tests.clients.conftest import free_port
from tests.clients.support import one_error_line

runner = CliRunner()


def _workers(parent: int) -> list[int]:
    """The worker processes of ``parent`` (multiprocessing's spawned children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _ready(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "serve --workers did not become ready"
        time.sleep(0.2)


def test_workers_share_a_port_and_come_back_after_kill_9(api_stack: Stack) -> None:
    second = Account.create()
    api_stack.admin_consortium.enrol_member(
        account=second.address, institution_id=0, role=ROLE_RELAYER
    ).wait()
    keys = api_stack.tmp_path / "relayers.keys"
    keys.write_text(f"{RELAYER_KEY}\n0x{bytes(second.key).hex()}\n")
    api_stack.client.__exit__(None, None, None)  # the processes below own the data dir now
    port = free_port()
    env = {
        **os.environ,
        **service_env(api_stack, MEDLEDGER_RELAYER_KEYS_FILE=str(keys)),
    }
    env.pop("MEDLEDGER_RELAYER_KEY")
    process = subprocess.Popen(
        [str(MEDLEDGER), "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _ready(url, process)
        workers = _workers(process.pid)
        assert len(workers) == 2
        for _ in range(4):  # new connections: the kernel hands them to either worker
            with MedLedgerClient(url, account=api_stack.patient) as client:
                client.login()
                client.grant(grantee=api_stack.cardiologist.address)
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(restarted := _workers(process.pid)) != 2 or workers[0] in restarted:
            assert time.monotonic() < deadline, "the killed worker was not started again"
            time.sleep(0.2)
        _ready(url, process)
        with MedLedgerClient(url, account=api_stack.patient) as client:
            client.login()
            client.grant(grantee=api_stack.gp.address)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        api_stack.restart()
    assert process.returncode == 0, stderr
    assert "(2 workers)" in stderr
    assert "starting it again" in stderr
    assert not _workers(process.pid)


def test_workers_need_one_key_each(api_stack: Stack) -> None:
    no_file = runner.invoke(
        app, ["serve", "--workers", "2", "--port", str(free_port())], env=service_env(api_stack)
    )
    assert "MEDLEDGER_RELAYER_KEYS_FILE" in one_error_line(no_file, 1)
    keys = api_stack.tmp_path / "one.keys"
    keys.write_text(f"{RELAYER_KEY}\n")
    short = runner.invoke(
        app,
        ["serve", "--workers", "2", "--port", str(free_port())],
        env=service_env(api_stack, MEDLEDGER_RELAYER_KEYS_FILE=str(keys)),
    )
    assert "worker 1 has none" in one_error_line(short, 1)
