"""``medledger node up|down|status`` as a user runs it: a real subprocess, a temp data dir."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clients.cli import app
from ledger_api.chain.anvil import free_port

runner = CliRunner()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", "node", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        check=False,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "medledger"
    yield directory
    pid_file = directory / "anvil.pid"  # never leave a node behind, even when a test failed
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.mark.slow
def test_up_status_down_twice_from_a_clean_data_dir(data_dir: Path) -> None:
    port = str(free_port())
    first = _cli("up", "--data-dir", str(data_dir), "--port", port)
    assert first.returncode == 0, first.stderr
    assert "node started" in first.stdout
    assert "contracts deployed" in first.stdout
    deployment = json.loads((data_dir / "deployment.json").read_text())
    assert deployment["chain_id"] == 31337
    for name, address in deployment["contracts"].items():
        assert name in first.stdout
        assert address in first.stdout
    assert {p.name for p in data_dir.iterdir()} >= {
        "anvil.pid",
        "anvil.log",
        "node.json",
        "deployment.json",
    }

    again = _cli("up", "--data-dir", str(data_dir), "--port", port)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert "contracts deployed" not in again.stdout

    status = _cli("status", "--data-dir", str(data_dir), "--port", port)
    assert status.returncode == 0
    assert "running" in status.stdout
    assert "31337" in status.stdout

    down = _cli("down", "--data-dir", str(data_dir))
    assert down.returncode == 0
    assert "node stopped" in down.stdout
    assert not (data_dir / "anvil.pid").exists()
    assert (data_dir / "chain.json").stat().st_size > 0  # state written on SIGTERM
    stopped = _cli("status", "--data-dir", str(data_dir), "--port", port)
    assert "stopped" in stopped.stdout

    # Second round on the same directory: the chain comes back from chain.json, no redeploy.
    second = _cli("up", "--data-dir", str(data_dir), "--port", port)
    assert second.returncode == 0, second.stderr
    assert "node started" in second.stdout
    assert "contracts deployed" not in second.stdout
    assert json.loads((data_dir / "deployment.json").read_text()) == deployment
    assert _cli("down", "--data-dir", str(data_dir)).returncode == 0
    assert "not running" in _cli("down", "--data-dir", str(data_dir)).stdout


def test_port_taken_by_something_else_is_one_clear_line(data_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        result = runner.invoke(
            app, ["node", "up", "--data-dir", str(data_dir), "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"port {port} is already in use" in result.stderr
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    assert "Traceback" not in result.output
    assert not (data_dir / "anvil.pid").exists()


def test_missing_anvil_binary_is_one_clear_line(data_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-anvil"
    result = runner.invoke(
        app,
        ["node", "up", "--data-dir", str(data_dir), "--port", str(free_port())],
        env={"MEDLEDGER_ANVIL": str(missing)},
    )
    assert result.exit_code == 1
    assert str(missing) in result.stderr
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    assert "Traceback" not in result.output
