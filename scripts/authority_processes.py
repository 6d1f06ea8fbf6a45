"""One ``medledger authority`` process per institution, for the benchmark and cluster stacks.

Each institution's key authority as an operator runs it (``docs/key-authorities.md``): its own
key file (``authority init``), registered on chain by its institution's admin (``authority
register``; the dev admin administers the demo institutions), served in its own process
(``authority serve``). The API of these stacks holds no key.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledger_api.chain.anvil import free_port
from ledger_api.chain.devnode import DEV_ADMIN_KEY

PASSPHRASE = "bench only"  # throwaway authorities in a temp dir


def start_authority_processes(
    tmp: Path, rpc: str, deployment: Path, institutions: list[int]
) -> list[subprocess.Popen[bytes]]:
    """One ``medledger authority`` per institution: init, register (the dev admin administers
    the demo institutions), serve; returns the serving processes."""
    cli = [sys.executable, "-m", "clients.cli", "authority"]
    env = {**os.environ, "BENCH_AUTH_PASS": PASSPHRASE, "BENCH_ADMIN": DEV_ADMIN_KEY}
    processes = []
    for inst in institutions:
        key_file, port = tmp / f"authority-{inst}.key", free_port()
        common = ["--key-file", str(key_file)]
        for step in (
            ["init", "--institution", str(inst), *common, "--passphrase-env", "BENCH_AUTH_PASS",
             "--scrypt-log2-n", "10"],
            ["register", "--institution", str(inst), *common, "--url",
             f"http://127.0.0.1:{port}", "--rpc", rpc, "--deployment", str(deployment),
             "--key-env", "BENCH_ADMIN"],
        ):  # fmt: skip
            done = subprocess.run([*cli, *step], env=env, capture_output=True, timeout=120)
            if done.returncode:
                raise RuntimeError(f"authority {step[0]} failed: {done.stderr.decode()[-500:]}")
        log = open(tmp / f"authority-{inst}.log", "wb")  # noqa: SIM115 - the process's log
        processes.append(
            subprocess.Popen(
                [*cli, "serve", "--institution", str(inst), "--port", str(port), *common,
                 "--rpc", rpc, "--deployment", str(deployment), "--passphrase-env",
                 "BENCH_AUTH_PASS", "--rate", "unlimited"],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or processes[-1].poll() is not None:
                raise RuntimeError(f"authority {inst} did not start (see {log.name})")
            time.sleep(0.2)
    return processes


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn's graceful shutdown), then kill after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
