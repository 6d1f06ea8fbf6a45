"""A 300 MiB body to ``POST /auth/nonce`` (no sign-in needed) must not grow the API.

The issue measured the old API going from 159 MiB to 1.94 GiB resident on such a body. Here
the API runs as its own uvicorn process (the way it is deployed) and its peak resident memory
(``VmHWM``) is read from ``/proc`` before and after: a body with a ``Content-Length`` and a
chunked one, both 300 MiB, each answered 413 (or cut off) while the peak stays within a few
MiB of where it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger_api.chain.anvil import free_port
from tests.api.conftest import RELAYER_KEY, Stack

MIB = 1024 * 1024
BODY = 300 * MIB
ALLOWED_GROWTH = 48 * MIB


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def _chunks(total: int) -> Iterator[bytes]:
    chunk = b'{"address": "' + b"a" * (MIB - 13)
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)


@pytest.fixture
def api_process(api_stack: Stack, tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDLEDGER_")}
    env.update(
        {
            "MEDLEDGER_RPC_URL": api_stack.settings.rpc_url,
            "MEDLEDGER_DEPLOYMENT_FILE": str(api_stack.settings.deployment_file),
            "MEDLEDGER_DATA_DIR": str(tmp_path / "api"),
            "MEDLEDGER_RELAYER_KEY": RELAYER_KEY,
            "MEDLEDGER_INDEXER_ENABLED": "false",
        }
    )
    command = [sys.executable, "-m", "uvicorn", "--factory", "ledger_api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "api.log").read_text()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _post(url: str, headers: dict[str, str]) -> int | None:
    """The status of a 300 MiB POST, or None when the server closed on the rest of it."""
    try:
        response = httpx.post(
            f"{url}/auth/nonce", content=_chunks(BODY), headers=headers, timeout=120
        )
    except httpx.TransportError:
        return None
    return response.status_code


@pytest.mark.slow
def test_a_300_mib_body_does_not_grow_the_api(api_process: tuple[str, int]) -> None:
    url, pid = api_process
    ok = httpx.post(f"{url}/auth/nonce", json={"address": "0x" + "11" * 20}, timeout=30)
    assert ok.status_code == 200, ok.text
    before = _status_kib(pid, "VmRSS")
    declared = _post(url, {"Content-Type": "application/json", "Content-Length": str(BODY)})
    chunked = _post(url, {"Content-Type": "application/json"})
    peak = _status_kib(pid, "VmHWM")
    assert peak - before < ALLOWED_GROWTH, f"peak {peak / MIB:.0f} MiB, was {before / MIB:.0f}"
    assert declared in (413, None)
    assert chunked in (413, None)
    # and the process still serves
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
