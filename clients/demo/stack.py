"""Find or start the local MedLedger stack of a data directory (dev tooling of ``medledger demo``).

One data directory holds a whole single-machine stack: the dev chain (``node up``: anvil,
``deployment.json``), the API's own folder ``api/`` (SQLite index, block store, ``api.log``),
with ``api.json`` naming the API process the demo started (pid, port), and one folder per
institution under ``authorities/`` (its key authority's key file, emergency-key share, log and
``serve.json``; :mod:`clients.demo.authorities`). The API holds no key, and its folder
holds no key file. The demo
reuses what already runs and starts what does not, and remembers which parts it started so
that it stops exactly those at the end (unless asked to keep them running).

DEV ONLY: the chain is signed for by anvil's public development keys, and the key authorities
the demo creates are boxed with fixed, published passphrases at the lowest scrypt cost. Such a
data directory is a demonstration, never a place for real records.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from clients.demo.errors import DemoError
from clients.demo.processes import (
    authorities_root,
    stop_authorities,
    terminate_authority,
)
from ledger_api.chain.deploy import Deployment
from ledger_api.chain.devnode import (
    DevKeys,
    NodeLayout,
    node_down,
    node_up,
    port_in_use,
    process_alive,
    running_pid,
    terminate,
)
from ledger_api.errors import LedgerApiError

DEFAULT_API_PORT = 8000
API_READY_TIMEOUT = 90.0
API_STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class ApiLayout:
    """The API's files inside a data directory."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "api.json"

    @property
    def api_dir(self) -> Path:
        """The API's own data folder (``MEDLEDGER_DATA_DIR``): no key authority in it."""
        return self.root / "api"

    @property
    def log_file(self) -> Path:
        return self.api_dir / "api.log"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.api_dir / 'index.db'}"


@dataclass
class LocalStack:
    """What runs for the demo, and which parts the demo itself started (and so must stop)."""

    data_dir: Path
    rpc_url: str
    api_url: str
    deployment: Deployment
    node_pid: int | None
    api_pid: int | None
    started_node: bool = False
    started_api: bool = False
    deployed_now: bool = False
    started_authorities: list[int] = field(default_factory=list)  # pids of ``authority serve``
    notes: list[str] = field(default_factory=list)

    def stop(self) -> list[str]:
        """Stop the authorities, the API and then the node, each only if this run started it;
        say what stopped."""
        stopped: list[str] = []
        for pid in self.started_authorities:
            if terminate_authority(pid):
                stopped.append(f"key authority (pid {pid})")
        self.started_authorities.clear()
        if self.started_api and self.api_pid is not None:
            if stop_api(self.data_dir) is not None:
                stopped.append(f"API (pid {self.api_pid})")
            self.started_api = False
        if self.started_node:
            pid = node_down(data_dir=self.data_dir)
            if pid is not None:
                stopped.append(f"dev chain (pid {pid})")
            self.started_node = False
        return stopped


def start_stack(*, data_dir: Path, port: int, api_port: int) -> LocalStack:
    """Reuse or start node and API of ``data_dir``; stop what was started on failure. The
    institutions' key authorities need the institutions on chain: the story starts them
    (:func:`clients.demo.authorities.ensure_authorities`), recorded on the same stack."""
    data_dir = data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        status = node_up(data_dir=data_dir, port=port)
    except LedgerApiError as exc:
        raise DemoError(f"cannot start the dev chain: {exc}") from None
    try:
        deployment = Deployment.load(NodeLayout(data_dir).deployment_file)
    except LedgerApiError as exc:
        if not status.already_running:
            node_down(data_dir=data_dir)
        raise DemoError(str(exc)) from None
    stack = LocalStack(
        data_dir=data_dir,
        rpc_url=status.url,
        api_url="",
        deployment=deployment,
        node_pid=status.pid,
        api_pid=None,
        started_node=not status.already_running,
        deployed_now=status.deployed_now,
    )
    try:
        if status.deployed_now:
            retire_index(stack)
        if (data_dir / "authority").exists():
            stack.notes.append(
                f"{data_dir / 'authority'} holds the former central key authority's keys: no "
                "longer used (each institution runs its own); delete it when you no longer need it"
            )
        stack.api_url, stack.api_pid, stack.started_api = ensure_api(
            data_dir=data_dir, rpc_url=status.url, deployment=deployment, port=api_port
        )
    except BaseException:
        stack.stop()
        raise
    return stack


def retire_index(stack: LocalStack) -> None:
    """After a fresh deployment, stop an API of the old chain and move its index aside.

    A chain that lost its state (``chain.json`` removed) gets new contracts, possibly at the
    same addresses; the old index would then describe records that no longer exist, and
    ``verify`` would rightly fail. The blocks stay: they are content-addressed.
    """
    stop_api(stack.data_dir)
    stop_authorities(stack.data_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    authorities = authorities_root(stack.data_dir)
    if authorities.exists():  # their keys and shares belong to the old chain's registrations
        authorities.replace(authorities.with_name(f"authorities.stale-{stamp}"))
        stack.notes.append(f"fresh chain: the old authorities moved to authorities.stale-{stamp}")
    api_dir = ApiLayout(stack.data_dir).api_dir
    if not (api_dir / "index.db").exists():
        return
    for suffix in ("", "-wal", "-shm"):
        part = api_dir / f"index.db{suffix}"
        if part.exists():
            part.replace(api_dir / f"index.db{suffix}.stale-{stamp}")
    stack.notes.append(f"fresh chain: the old index was moved to api/index.db.stale-{stamp}")


# -- the API process -----------------------------------------------------------------------


def ensure_api(
    *, data_dir: Path, rpc_url: str, deployment: Deployment, port: int
) -> tuple[str, int | None, bool]:
    """``(url, pid, started_now)`` of an API serving this data dir's deployment."""
    layout = ApiLayout(data_dir)
    recorded = _recorded_api(layout)
    if recorded is not None:
        pid, recorded_port = recorded
        url = _url(recorded_port)
        if _serves(url, deployment):
            return url, pid, False
        stop_api(data_dir)  # alive but not answering for this deployment: restart it
    elif _recorded_api(layout, escrow_free_only=False) is not None:
        stop_api(data_dir)  # an API started before the demo ran escrow-free: it held a key
    url = _url(port)
    if port_in_use(port):
        if _serves(url, deployment):
            return url, None, False  # started by someone else for this same chain: reuse
        raise DemoError(
            f"port {port} is in use by another process that is not the MedLedger API of "
            f"{data_dir}; stop it or choose another port with --api-port"
        )
    pid = _spawn_api(layout, rpc_url=rpc_url, port=port)
    try:
        _wait_ready(url, pid, layout)
    except BaseException:
        stop_api(data_dir)
        raise
    return url, pid, True


def api_environment(layout: ApiLayout, *, rpc_url: str) -> dict[str, str]:
    """The ``MEDLEDGER_*`` settings of the demo's API: everything under the data dir.

    Set explicitly (not left to defaults) so that a developer's own ``MEDLEDGER_DATABASE_URL``
    or ``MEDLEDGER_BLOCK_STORE`` cannot point the demo at a real database or a Kubo node.
    """
    # no key: a developer's MEDLEDGER_AUTHORITY_* must not hand the demo's API one
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDLEDGER_AUTHORITY_")}
    env.update(
        {
            "MEDLEDGER_DATA_DIR": str(layout.api_dir),
            "MEDLEDGER_RPC_URL": rpc_url,
            "MEDLEDGER_DEPLOYMENT_FILE": str(NodeLayout(layout.root).deployment_file),
            "MEDLEDGER_DATABASE_URL": layout.database_url,
            "MEDLEDGER_BLOCK_STORE": "local",
            "MEDLEDGER_BLOCK_STORE_PATH": str(layout.api_dir / "blocks"),
            "MEDLEDGER_RELAYER_KEY": DevKeys.from_env().relayer,  # DEV ONLY (anvil's key)
            "MEDLEDGER_INDEXER_POLL_INTERVAL": "0.2",
            # the demo's own limits, set explicitly: one person clicking through the story
            # and the CLI's scripted scenes, from one address and one IP (127.0.0.1)
            "MEDLEDGER_RATE_SIGN_IN_PER_ADDRESS": "60/minute",
            "MEDLEDGER_RATE_SIGN_IN_PER_IP": "600/minute",
            "MEDLEDGER_RATE_DENIED_READS_PER_ADDRESS": "120/minute",
            "MEDLEDGER_RATE_DENIED_READS_PER_IP": "1200/minute",
            "MEDLEDGER_RATE_KEY_ISSUANCE_PER_MEMBER": "120/hour",
            "MEDLEDGER_RATE_KEY_ISSUANCE_PER_IP": "1200/hour",
            "MEDLEDGER_RATE_UPLOADS_PER_ADDRESS": "6000/hour",
            "MEDLEDGER_RATE_UPLOADS_PER_IP": "60000/hour",
            "MEDLEDGER_RATE_SYSTEM_ACCOUNTS": "60000/minute",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _spawn_api(layout: ApiLayout, *, rpc_url: str, port: int) -> int:
    """``medledger serve`` in its own session (it outlives the demo with ``--keep-running``).

    ``serve`` checks chain, store, database and settings before uvicorn starts, so a
    failure is one ``error: …`` line at the end of ``api.log``, which the demo then shows.
    """
    command = [
        sys.executable,
        "-m",
        "clients.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    # the log names callers and records: the API's alone, like the rest of its data folder
    layout.api_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(layout.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        process = subprocess.Popen(
            command,
            env=api_environment(layout, rpc_url=rpc_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state = {"pid": process.pid, "port": port, "escrow_free": True}
    layout.state_file.write_text(json.dumps(state) + "\n")
    return process.pid


def _wait_ready(url: str, pid: int, layout: ApiLayout) -> None:
    deadline = time.monotonic() + API_READY_TIMEOUT
    while time.monotonic() < deadline:
        if not process_alive(pid):
            reason = _last_line(layout.log_file)
            raise DemoError(f"the API exited at start-up: {reason} (log: {layout.log_file})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise DemoError(
        f"the API at {url} was not ready within {API_READY_TIMEOUT:.0f} s (log: {layout.log_file})"
    )


def stop_api(data_dir: Path) -> int | None:
    """SIGTERM the API recorded in ``api.json`` (SIGKILL after a grace); the pid, or None."""
    layout = ApiLayout(data_dir)
    recorded = _recorded_api(layout, escrow_free_only=False)
    layout.state_file.unlink(missing_ok=True)
    if recorded is None:
        return None
    pid = recorded[0]
    terminate(pid, timeout=API_STOP_TIMEOUT)
    return pid


def stop_all(data_dir: Path) -> list[str]:
    """``medledger demo --stop``: the key authorities and the API recorded in the data dir,
    then its dev chain."""
    stopped = [f"key authority (pid {pid})" for pid in stop_authorities(data_dir)]
    api = stop_api(data_dir)
    if api is not None:
        stopped.append(f"API (pid {api})")
    try:
        node = node_down(data_dir=data_dir)
    except LedgerApiError as exc:
        raise DemoError(f"cannot stop the dev chain: {exc}") from None
    if node is not None:
        stopped.append(f"dev chain (pid {node})")
    return stopped


def _recorded_api(layout: ApiLayout, *, escrow_free_only: bool = True) -> tuple[int, int] | None:
    """``(pid, port)`` from ``api.json`` when that process is alive and is our ``serve``
    (an API the demo started before it ran escrow-free is not: it holds the central key)."""
    try:
        raw = json.loads(layout.state_file.read_text())
        pid, port = int(raw["pid"]), int(raw["port"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    if not process_alive(pid) or (escrow_free_only and raw.get("escrow_free") is not True):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        if b"clients.cli\x00serve" not in cmdline.read_bytes():
            return None  # the pid was reused by an unrelated process
    return pid, port


def _serves(url: str, deployment: Deployment) -> bool:
    """True when ``url`` is a ready MedLedger API bound to ``deployment``'s contracts."""
    try:
        ready = httpx.get(f"{url}/readyz", timeout=3.0)
        info = httpx.get(f"{url}/chain", timeout=3.0)
    except httpx.HTTPError:
        return False
    if ready.status_code != 200 or info.status_code != 200:
        return False
    try:
        body = info.json()
        chain_id = int(body["chain_id"])
        addresses = {str(k): str(v).lower() for k, v in dict(body["contracts"]).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    expected = {k: v.lower() for k, v in deployment.addresses().items()}
    return chain_id == deployment.chain_id and all(
        addresses.get(name) == address for name, address in expected.items()
    )


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _last_line(path: Path) -> str:
    """The last non-empty line of the API log: usually the reason it could not start."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    if not lines:
        return "no output"
    line = lines[-1].strip()
    with contextlib.suppress(ValueError, TypeError, AttributeError, IndexError):
        record = json.loads(line)  # the API logs JSON lines
        line = str(record.get("msg") or line).strip().splitlines()[-1]
    return line.removeprefix("error:").strip()[:300]


__all__ = [
    "DEFAULT_API_PORT",
    "ApiLayout",
    "LocalStack",
    "ensure_api",
    "running_pid",
    "start_stack",
    "stop_all",
    "stop_api",
]
