"""Start and stop a local anvil node from ``node_modules``.

Anvil ships inside the npm package ``@foundry-rs/anvil`` as a per-platform binary
(``@foundry-rs/anvil-<os>-<arch>/bin/anvil``). We run that binary directly rather than the
``node_modules/.bin/anvil`` Node wrapper, so that the process we signal is the node itself.
Only dev tooling and tests use this module: nothing else may depend on anvil-only behaviour.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ledger_api.chain.errors import NodeError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHAIN_ID = 31337

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_OS = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}


def find_anvil(root: Path = PROJECT_ROOT) -> Path:
    """Locate the anvil binary installed by ``npm ci``; a clear error names what is missing."""
    override = os.environ.get("MEDLEDGER_ANVIL")
    if override:
        if not Path(override).is_file():
            raise NodeError(f"MEDLEDGER_ANVIL names {override}, which is not a file")
        return Path(override)
    os_name = _OS.get(platform.system())
    arch = _ARCH.get(platform.machine().lower())
    if os_name is None or arch is None:
        raise NodeError(f"anvil has no npm build for {platform.system()}/{platform.machine()}")
    binary = root / "node_modules" / "@foundry-rs" / f"anvil-{os_name}-{arch}" / "bin" / "anvil"
    if not binary.exists():
        if shutil.which("node") is None:
            raise NodeError("Node.js is not installed: install Node 20, then run `make install`")
        raise NodeError(f"anvil not found at {binary}: run `make install` (npm ci) first")
    return binary


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_answers(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` answers ``eth_chainId`` (any EVM JSON-RPC node)."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class AnvilProcess:
    """A running anvil; ``state_file`` keeps the chain across restarts (kill -9 loses ≤1 s)."""

    port: int
    chain_id: int = DEFAULT_CHAIN_ID
    state_file: Path | None = None
    log_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = [
            str(find_anvil()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--gas-price",
            "0",
            "--base-fee",
            "0",
            "--silent",
            # anvil otherwise spills old block states to ~/.foundry/anvil/tmp and never removes
            # them after a kill: tens of GB over a test run. Recent states stay in memory.
            "--max-persisted-states",
            "0",
        ]
        if self.state_file is not None:
            args += ["--state", str(self.state_file), "--state-interval", "1"]
        return args + self.extra_args

    def start(self, timeout: float = 20.0) -> AnvilProcess:
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self._guard_state_file()
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NodeError(f"anvil exited with code {self.process.returncode} at start-up")
            if rpc_answers(self.url, timeout=0.5):
                return self
            time.sleep(0.05)
        self.stop()
        raise NodeError(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def _guard_state_file(self) -> None:
        """Keep a last good copy of the state file and fall back to it when anvil's own is torn.

        anvil rewrites ``--state`` in place every second; a ``kill -9`` in the middle of a
        write leaves a truncated JSON file that anvil then refuses to load (measured: about
        one kill in thirty). Before each start the file is parsed: a whole one is copied to
        ``<name>.good`` (temp file, fsync, rename); a torn one is set aside as
        ``<name>.torn`` and replaced by the last good copy, an older state that the API's
        healer treats like any other rollback.
        """
        assert self.state_file is not None
        good = self.state_file.with_name(self.state_file.name + ".good")
        if not self.state_file.exists():
            return
        try:
            json.loads(self.state_file.read_bytes())
        except ValueError:
            if not good.exists():
                raise NodeError(
                    f"{self.state_file} is torn (a kill during anvil's write) and there is no "
                    f"last good copy {good.name}"
                ) from None
            os.replace(self.state_file, self.state_file.with_name(self.state_file.name + ".torn"))
            shutil.copyfile(good, self.state_file)
            return
        scratch = good.with_name(good.name + ".tmp")
        shutil.copyfile(self.state_file, scratch)
        with open(scratch, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(scratch, good)

    def stop(self, kill: bool = False) -> None:
        """Stop the node: SIGTERM (state saved on exit) or, with ``kill``, SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
