"""``medledger serve``: the API in a real subprocess, and its one-line refusals to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from clients.cli import app
from clients.cli.common import EXIT_UNAVAILABLE
from clients.sdk import MedLedgerClient
from tests.api.conftest import Stack
from tests.clients.conftest import free_port
from tests.clients.support import one_error_line

MEDLEDGER = Path(sys.executable).with_name("medledger")
runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: this is about starting the service, not about its backends."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def service_env(stack: Stack, **overrides: str) -> dict[str, str]:
    """The stack's settings as the MEDLEDGER_* variables an operator would export."""
    s = stack.settings
    env = {
        "MEDLEDGER_RPC_URL": s.rpc_url,
        "MEDLEDGER_DATA_DIR": str(s.data_dir),
        "MEDLEDGER_DEPLOYMENT_FILE": str(s.deployment_file),
        "MEDLEDGER_DATABASE_URL": str(s.database_url),
        "MEDLEDGER_RELAYER_KEY": s.relayer_key.get_secret_value(),
        "MEDLEDGER_LOG_JSON": "true",
    }
    env.update(overrides)
    return env


def test_serve_runs_the_api_until_interrupted(api_stack: Stack) -> None:
    api_stack.client.__exit__(None, None, None)  # one app per data dir at a time
    port = free_port()
    env = {**os.environ, **service_env(api_stack)}
    process = subprocess.Popen(
        [str(MEDLEDGER), "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.1)
        with MedLedgerClient(url, account=api_stack.patient) as client:
            assert client.chain_info().addresses == api_stack.deployment.addresses()
            client.login()
            assert client.me()["address"] == api_stack.patient.address
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        api_stack.restart()  # the fixture's teardown expects a running app
    assert process.returncode == 0, stderr
    assert f"MedLedger API on {url}" in stderr


def test_serve_refuses_to_start_with_one_line(api_stack: Stack) -> None:
    # CliRunner's env only adds variables; None unsets the key for this run
    env: dict[str, str | None] = {**service_env(api_stack), "MEDLEDGER_RELAYER_KEY": None}
    no_key = runner.invoke(app, ["serve", "--port", str(free_port())], env=env)
    assert "MEDLEDGER_RELAYER_KEY" in one_error_line(no_key, 1)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = runner.invoke(app, ["serve", "--port", str(port)], env=service_env(api_stack))
        assert f"cannot listen on 127.0.0.1:{port}" in one_error_line(busy, 1)

    dead_node = service_env(api_stack, MEDLEDGER_RPC_URL=f"http://127.0.0.1:{free_port()}")
    down = runner.invoke(app, ["serve", "--port", str(free_port())], env=dead_node)
    one_error_line(down, EXIT_UNAVAILABLE)

    missing = service_env(
        api_stack, MEDLEDGER_DEPLOYMENT_FILE=str(api_stack.tmp_path / "no-such.json")
    )
    no_deployment = runner.invoke(app, ["serve", "--port", str(free_port())], env=missing)
    assert "no deployment file" in one_error_line(no_deployment, 1)
