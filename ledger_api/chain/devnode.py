"""The local development chain behind ``medledger node up|down|status`` (dev tooling only).

A data directory holds everything of one dev chain: ``chain.json`` (anvil's state, dumped every
second so a kill -9 loses at most a second), ``anvil.pid``, ``anvil.log``, ``node.json`` (port
and chain id the node was started with) and ``deployment.json`` (the contract addresses). The
node is started detached, so it outlives the command that started it, and is found again through
the pid file; a pid file whose process is gone or is not anvil is treated as stale.

The keys used here are anvil's published development keys unless ``MEDLEDGER_DEPLOYER_KEY``,
``MEDLEDGER_ADMIN_KEY`` and ``MEDLEDGER_RELAYER_KEY`` say otherwise. THEY ARE PUBLIC: anyone can
sign with them. They are for the local dev chain only and must never hold value or be used on a
consortium chain.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ledger_api.chain.anvil import DEFAULT_CHAIN_ID, AnvilProcess, rpc_answers
from ledger_api.chain.connection import block_number, chain_id, connect, has_code
from ledger_api.chain.consortium import Consortium, Role
from ledger_api.chain.emergency import EmergencyAccess
from ledger_api.chain.errors import ChainError, NodeError

DEFAULT_PORT = 8545

# --- DEV ONLY: anvil's well-known keys (mnemonic "test test ... junk"). Public knowledge. ---
DEV_DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADMIN_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DEV_RELAYER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"


@dataclass(frozen=True, kw_only=True)
class DevKeys:
    """Who deploys, administers the consortium and relays on the dev chain (DEV ONLY)."""

    deployer: str = DEV_DEPLOYER_KEY
    admin: str = DEV_ADMIN_KEY
    relayer: str = DEV_RELAYER_KEY

    @classmethod
    def from_env(cls) -> DevKeys:
        return cls(
            deployer=os.environ.get("MEDLEDGER_DEPLOYER_KEY", DEV_DEPLOYER_KEY),
            admin=os.environ.get("MEDLEDGER_ADMIN_KEY", DEV_ADMIN_KEY),
            relayer=os.environ.get("MEDLEDGER_RELAYER_KEY", DEV_RELAYER_KEY),
        )


def default_data_dir() -> Path:
    return Path(os.environ.get("MEDLEDGER_DATA_DIR") or Path.home() / ".medledger")


@dataclass(frozen=True)
class NodeLayout:
    """The files of one dev chain inside its data directory."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "chain.json"

    @property
    def pid_file(self) -> Path:
        return self.root / "anvil.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "anvil.log"

    @property
    def node_file(self) -> Path:
        return self.root / "node.json"

    @property
    def deployment_file(self) -> Path:
        return self.root / "deployment.json"


@dataclass
class NodeStatus:
    """What ``status`` reports; ``addresses`` is empty until a deployment exists."""

    running: bool
    url: str
    pid: int | None = None
    chain_id: int | None = None
    block_number: int | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    deployed_now: bool = False
    already_running: bool = False


def node_up(
    *,
    data_dir: Path,
    port: int = DEFAULT_PORT,
    keys: DevKeys | None = None,
    timeout: float = 30.0,
) -> NodeStatus:
    """Start the dev chain if needed, deploy if the data dir has no live deployment, report."""
    layout = NodeLayout(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    pid = running_pid(layout)
    already = pid is not None
    if already:
        port = _recorded_port(layout, default=port)
    else:
        _require_port_free(port)
        node = AnvilProcess(
            port=port,
            chain_id=DEFAULT_CHAIN_ID,
            state_file=layout.state_file,
            log_file=layout.log_file,
        )
        node.start(timeout=timeout)
        assert node.process is not None
        pid = node.process.pid
        layout.pid_file.write_text(f"{pid}\n")
        layout.node_file.write_text(json.dumps({"port": port, "chain_id": DEFAULT_CHAIN_ID}))
    url = f"http://127.0.0.1:{port}"
    w3 = connect(url, expected_chain_id=DEFAULT_CHAIN_ID)
    deployed_now = _ensure_deployment(w3, layout, keys or DevKeys.from_env())
    status = node_status(data_dir=data_dir, port=port)
    status.deployed_now = deployed_now
    status.already_running = already
    return status


def node_down(*, data_dir: Path, timeout: float = 20.0) -> int | None:
    """SIGTERM the node (anvil writes its state on exit); returns the pid stopped, or None."""
    layout = NodeLayout(data_dir)
    pid = running_pid(layout)
    if pid is None:
        layout.pid_file.unlink(missing_ok=True)
        return None
    terminate(pid, timeout=timeout)
    layout.pid_file.unlink(missing_ok=True)
    return pid


def node_status(*, data_dir: Path, port: int = DEFAULT_PORT) -> NodeStatus:
    layout = NodeLayout(data_dir)
    pid = running_pid(layout)
    if pid is not None:
        port = _recorded_port(layout, default=port)
    url = f"http://127.0.0.1:{port}"
    addresses = _deployment_addresses(layout)
    if pid is None or not rpc_answers(url):
        return NodeStatus(running=False, url=url, addresses=addresses)
    w3 = connect(url)
    return NodeStatus(
        running=True,
        url=url,
        pid=pid,
        chain_id=chain_id(w3),
        block_number=block_number(w3),
        addresses=addresses,
    )


def running_pid(layout: NodeLayout) -> int | None:
    """The pid in the pid file if that process is alive and is anvil; else None (stale)."""
    try:
        pid = int(layout.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not process_alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"anvil" not in cmdline.read_bytes():
        return None  # the pid was reused by an unrelated process
    return pid


# -- deployment ----------------------------------------------------------------------------


def _ensure_deployment(w3: object, layout: NodeLayout, keys: DevKeys) -> bool:
    """Deploy unless ``deployment.json`` is for this chain, of the current contracts
    (``code_digest``), and its code is on chain."""
    from ledger_api.chain import deploy  # the contracts engineer's module; imported lazily

    if layout.deployment_file.exists():
        try:
            raw = json.loads(layout.deployment_file.read_text())
        except (OSError, ValueError) as exc:
            raise NodeError(f"{layout.deployment_file} is unreadable ({exc}); remove it") from exc
        if _lacks_contracts(raw, deploy.CONTRACT_NAMES):
            # written by an older MedLedger with fewer contracts: a dev chain just redeploys
            return _deploy(w3, layout, keys)
        try:
            existing = deploy.Deployment.from_json(raw)
        except (ChainError, ValueError, KeyError) as exc:
            raise NodeError(f"{layout.deployment_file} is unreadable ({exc}); remove it") from exc
        if existing.code_digest != deploy.code_digest():
            # older contracts (another ABI): a dev chain just deploys the current ones
            return _deploy(w3, layout, keys)
        if existing.chain_id == chain_id(w3) and all(  # type: ignore[arg-type]
            has_code(w3, address)  # type: ignore[arg-type]
            for address in existing.addresses().values()
        ):
            return False
    return _deploy(w3, layout, keys)


def _lacks_contracts(raw: object, names: tuple[str, ...] | list[str]) -> bool:
    contracts = raw.get("contracts") if isinstance(raw, dict) else None
    return isinstance(contracts, dict) and any(name not in contracts for name in names)


def _deploy(w3: object, layout: NodeLayout, keys: DevKeys) -> bool:
    from ledger_api.chain import deploy

    deployment = deploy.deploy_all(
        w3,  # type: ignore[arg-type]
        deployer_key=keys.deployer,
        relayer=_address_of(keys.relayer),
        admin=_address_of(keys.admin),
    )
    deployment.save(layout.deployment_file)
    return True


def _deployment_addresses(layout: NodeLayout) -> dict[str, str]:
    try:
        raw = json.loads(layout.deployment_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    contracts = raw.get("contracts", raw)
    return {
        name: (entry["address"] if isinstance(entry, dict) else entry)
        for name, entry in contracts.items()
        if isinstance(entry, dict | str) and name[:1].isupper()
    }


def _address_of(key: str) -> str:
    from eth_account import Account

    return str(Account.from_key(key).address)


# -- the demo consortium ------------------------------------------------------------------


def enrol_demo_consortium(
    admin: Consortium,
    *,
    admin_address: str,
    cardiologist: str,
    gp: str,
    auditor: str | None = None,
    emergency: EmergencyAccess | None = None,
    daily_cap: int | None = None,
) -> tuple[int, int]:
    """The two-institution consortium the API tests and the benchmarks run on (DEV ONLY).

    ``cd3h`` with a cardiologist (``dept:cardiology``) and optionally an auditor, ``qyqchc``
    with a general practitioner (``dept:general_practice``), both administered by
    ``admin_address``; the transactions are sent together and awaited. With ``emergency``
    (``EmergencyAccess`` sending as the consortium admin) and ``daily_cap`` (the API's
    ``break_glass_daily_cap`` setting), the break-glass cap the contract enforces is set to it.
    Returns the two institution ids ``(cd3h, qyqchc)``."""
    if (emergency is None) != (daily_cap is None):
        raise ValueError("give both emergency and daily_cap, or neither")
    cd3h = admin.add_institution(name="成都市第三人民医院", code="cd3h", admin=admin_address)
    qyqchc = admin.add_institution(
        name="青羊区社区卫生服务中心", code="qyqchc", admin=admin_address
    )
    cd3h_id = int(cd3h.wait().event("InstitutionAdded").args["institutionId"])
    qyqchc_id = int(qyqchc.wait().event("InstitutionAdded").args["institutionId"])
    members: list[tuple[str, int, Role, list[str]]] = [
        (cardiologist, cd3h_id, Role.DOCTOR, ["dept:cardiology"]),
        (gp, qyqchc_id, Role.DOCTOR, ["dept:general_practice"]),
    ]
    if auditor is not None:
        members.append((auditor, cd3h_id, Role.AUDITOR, []))
    pending = [
        admin.enrol_member(account=account, institution_id=inst, role=role, attributes=attrs)
        for account, inst, role, attrs in members
    ]
    if emergency is not None and daily_cap is not None and emergency.daily_cap() != daily_cap:
        pending.append(emergency.set_daily_cap(daily_cap))
    for tx in pending:
        tx.wait()
    return cd3h_id, qyqchc_id


# -- processes and ports -------------------------------------------------------------------


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not); reaps it first when it is our own child.

    Shared by the node and the demo's API process, which are found again by pid files."""
    reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


def reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (tests run the CLI
    in-process); nothing when it is not."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pid: int, *, timeout: float) -> None:
    """SIGTERM ``pid`` (it may write its state on exit), SIGKILL after ``timeout`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    reap(pid)


def port_in_use(port: int) -> bool:
    """Whether something accepts TCP connections on ``127.0.0.1:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _require_port_free(port: int) -> None:
    if port_in_use(port):
        raise NodeError(
            f"port {port} is already in use by another process; "
            "stop it or choose another with --port"
        )


def _recorded_port(layout: NodeLayout, *, default: int) -> int:
    try:
        return int(json.loads(layout.node_file.read_text())["port"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return default
