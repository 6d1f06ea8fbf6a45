"""Find or start the local MedLedger stack of a data directory (dev tooling of ``medledger demo``).

One data directory holds a whole single-machine stack: the dev chain (``node up``: anvil,
``deployment.json``), the key authority (``authority/``), and the API's SQLite index, block
store and log (``api.log``), with ``api.json`` naming the API process the demo started (pid,
port). The demo reuses what already runs and starts what does not, and remembers which parts it
started so that it stops exactly those at the end (unless asked to keep them running).

DEV ONLY: the chain is signed for by anvil's public development keys, and a key authority the
demo creates is boxed with a fixed, published passphrase at the lowest scrypt cost
(``MEDLEDGER_AUTHORITY_PASSPHRASE`` overrides the passphrase). Such a data directory is a
demonstration, never a place for real records.
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
from crypto.keys import SCRYPT_MIN_LOG2_N
from ledger_api.authority.keystore import MPK_FILE, MSK_FILE, AuthorityError, init_authority
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
# DEV ONLY: a published passphrase for the demo's key authority; never use it for real keys.
DEMO_AUTHORITY_PASSPHRASE = "medledger-demo-authority (dev only, public)"
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
    def log_file(self) -> Path:
        return self.root / "api.log"

    @property
    def authority_dir(self) -> Path:
        return self.root / "authority"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.root / 'index.db'}"


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
    created_authority: bool = False
    notes: list[str] = field(default_factory=list)

    def stop(self) -> list[str]:
        """Stop the API and then the node, each only if this run started it; say what stopped."""
        stopped: list[str] = []
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


def authority_passphrase() -> str:
    """The passphrase the demo's API opens the key authority with (env overrides the demo's)."""
    return os.environ.get("MEDLEDGER_AUTHORITY_PASSPHRASE") or DEMO_AUTHORITY_PASSPHRASE


def start_stack(*, data_dir: Path, port: int, api_port: int) -> LocalStack:
    """Reuse or start node, authority and API of ``data_dir``; stop what was started on failure."""
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
        stack.created_authority = ensure_authority(data_dir)
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
    database = stack.data_dir / "index.db"
    if not database.exists():
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        part = stack.data_dir / f"index.db{suffix}"
        if part.exists():
            part.replace(stack.data_dir / f"index.db{suffix}.stale-{stamp}")
    stack.notes.append(f"fresh chain: the old index was moved to index.db.stale-{stamp}")


# -- key authority -------------------------------------------------------------------------


def ensure_authority(data_dir: Path) -> bool:
    """Create the demo key authority when the data dir has none; True when created now.

    The demo uses the lowest scrypt cost (2**10) for the master secret key's box, so that a
    first run stays quick: acceptable for a dev passphrase that is public anyway, never for
    a real authority (``medledger authority init`` keeps 2**17).
    """
    directory = ApiLayout(data_dir).authority_dir
    if (directory / MPK_FILE).exists() and (directory / MSK_FILE).exists():
        return False
    try:
        init_authority(directory, authority_passphrase(), log2_n=SCRYPT_MIN_LOG2_N)
    except AuthorityError as exc:
        raise DemoError(f"cannot create the demo key authority in {directory}: {exc}") from None
    return True


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
    env = dict(os.environ)
    env.update(
        {
            "MEDLEDGER_DATA_DIR": str(layout.root),
            "MEDLEDGER_RPC_URL": rpc_url,
            "MEDLEDGER_DEPLOYMENT_FILE": str(NodeLayout(layout.root).deployment_file),
            "MEDLEDGER_DATABASE_URL": layout.database_url,
            "MEDLEDGER_BLOCK_STORE": "local",
            "MEDLEDGER_BLOCK_STORE_PATH": str(layout.root / "blocks"),
            "MEDLEDGER_AUTHORITY_DIR": str(layout.authority_dir),
            "MEDLEDGER_AUTHORITY_PASSPHRASE": authority_passphrase(),
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

    ``serve`` checks chain, store, database and key authority before uvicorn starts, so a
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
    layout.state_file.write_text(json.dumps({"pid": process.pid, "port": port}) + "\n")
    return process.pid


def _wait_ready(url: str, pid: int, layout: ApiLayout) -> None:
    deadline = time.monotonic() + API_READY_TIMEOUT
    while time.monotonic() < deadline:
        if not process_alive(pid):
            reason = _last_line(layout.log_file)
            hint = ""
            if "passphrase" in reason:
                hint = "; set MEDLEDGER_AUTHORITY_PASSPHRASE to the key authority's passphrase"
            raise DemoError(f"the API exited at start-up: {reason} (log: {layout.log_file}){hint}")
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
    recorded = _recorded_api(layout)
    layout.state_file.unlink(missing_ok=True)
    if recorded is None:
        return None
    pid = recorded[0]
    terminate(pid, timeout=API_STOP_TIMEOUT)
    return pid


def stop_all(data_dir: Path) -> list[str]:
    """``medledger demo --stop``: the API recorded in the data dir, then its dev chain."""
    stopped: list[str] = []
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


def _recorded_api(layout: ApiLayout) -> tuple[int, int] | None:
    """``(pid, port)`` from ``api.json`` when that process is alive and is our ``serve``."""
    try:
        raw = json.loads(layout.state_file.read_text())
        pid, port = int(raw["pid"]), int(raw["port"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    if not process_alive(pid):
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
    "DEMO_AUTHORITY_PASSPHRASE",
    "ApiLayout",
    "LocalStack",
    "authority_passphrase",
    "ensure_api",
    "ensure_authority",
    "running_pid",
    "start_stack",
    "stop_all",
    "stop_api",
]
