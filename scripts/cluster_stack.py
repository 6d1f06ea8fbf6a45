"""Several API nodes on one PostgreSQL, one block store and one chain, as real processes.

``cluster_stack(nodes=2)`` starts anvil with a state file (``--state``, saved every second,
as ``medledger node up`` runs it), deploys the contracts, enrols the demo consortium and one
relayer account *per node* in ``Consortium`` (role Relayer), creates a fresh PostgreSQL
database, and runs ``medledger serve`` once per node on its own port, each with
``MEDLEDGER_RELAYER_KEYS_FILE`` and its own ``MEDLEDGER_WORKER_INDEX``. Used by
``tests/e2e/test_cluster.py``, ``scripts/chaos.py`` and ``scripts/bench_api.py --nodes 2``.

The stack can kill and restart its parts (``kill -9`` of a node, of the chain node restarted
from its state file, PostgreSQL backends terminated), which is what the chaos script does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from eth_account import Account
from eth_account.signers.local import LocalAccount

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):  # the packages, and this folder's shared modules
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from authority_processes import start_authority_processes, stop_process  # noqa: E402

from clients.sdk import MedLedgerClient  # noqa: E402
from ledger_api.chain.anvil import AnvilProcess, free_port  # noqa: E402
from ledger_api.chain.connection import connect  # noqa: E402
from ledger_api.chain.consortium import Consortium  # noqa: E402
from ledger_api.chain.deploy import ROLE_RELAYER, deploy_all  # noqa: E402
from ledger_api.chain.devnode import (  # noqa: E402
    DEV_ADMIN_KEY,
    DEV_DEPLOYER_KEY,
    enrol_demo_consortium,
)
from ledger_api.chain.relayer import Relayer  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "MEDLEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
UNLIMITED = (
    "rate_sign_in_per_address",
    "rate_sign_in_per_ip",
    "rate_denied_reads_per_address",
    "rate_denied_reads_per_ip",
    "rate_key_issuance_per_member",
    "rate_key_issuance_per_ip",
    "rate_uploads_per_address",
    "rate_uploads_per_ip",
    "rate_system_accounts",
)
MEDLEDGER = str(Path(sys.executable).with_name("medledger"))


@dataclass
class Node:
    """One ``medledger serve`` process."""

    index: int
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [MEDLEDGER, "serve", "--port", str(self.port), "--log-level", "warning"],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def wait_ready(self, timeout: float = 90.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.index} exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"node {self.index} not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """``kill -9``: no shutdown, no lock released by the process itself."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Cluster:
    """The running stack: chain, database, nodes, the demo people."""

    tmp: Path
    chain: AnvilProcess
    database_url: str
    nodes: list[Node]
    people: dict[str, LocalAccount]
    deployment: Any
    w3: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def patient(self) -> str:
        return str(self.people["patient"].address)

    def restart_chain(self, *, kill: bool = True) -> None:
        """Kill -9 the chain node and start it again from its state file (which anvil writes
        once a second: the last second is lost, as after a power cut)."""
        self.chain.stop(kill=kill)
        self.chain.start()

    def restart_node(self, index: int) -> float:
        node = self.nodes[index]
        node.kill()
        node.start()
        return node.wait_ready()

    def terminate_backends(self) -> int:
        """Terminate every PostgreSQL backend connected to the cluster's database."""
        engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = sa.engine.make_url(self.database_url).database
        try:
            with engine.connect() as conn:
                return len(
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :d AND pid <> pg_backend_pid()"
                        ),
                        {"d": name},
                    ).all()
                )
        finally:
            engine.dispose()


def _create_database() -> str:
    name = f"medledger_cluster_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return str(sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False))


def _drop_database(url: str) -> None:
    name = sa.engine.make_url(url).database
    engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextlib.contextmanager
def cluster_stack(*, nodes: int = 2, settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Chain, contracts, consortium, one key authority process per institution, PostgreSQL
    and ``nodes`` API processes (holding no key)."""
    with tempfile.TemporaryDirectory(prefix="medledger-cluster-") as name:
        tmp = Path(name)
        chain = AnvilProcess(
            port=free_port(), state_file=tmp / "chain" / "chain.json", log_file=tmp / "anvil.log"
        )
        chain.start()
        database_url = ""
        started: list[Node] = []
        authorities: list[subprocess.Popen[bytes]] = []
        try:
            w3 = connect(chain.url)
            relayers = [Account.create() for _ in range(nodes)]
            admin = Account.from_key(DEV_ADMIN_KEY)
            deployment = deploy_all(
                w3,
                deployer_key=DEV_DEPLOYER_KEY,
                relayer=relayers[0].address,
                admin=admin.address,
            )
            consortium = Consortium(
                w3, deployment.address("Consortium"), sender=Relayer(w3, DEV_ADMIN_KEY)
            )
            for extra in relayers[1:]:  # one enrolled relayer per node
                consortium.enrol_member(
                    account=extra.address, institution_id=0, role=ROLE_RELAYER
                ).wait()
            people = {n: Account.create() for n in ("patient", "cardiologist", "gp")}
            institutions = enrol_demo_consortium(
                consortium,
                admin_address=admin.address,
                cardiologist=people["cardiologist"].address,
                gp=people["gp"].address,
            )
            data_dir = tmp / "data"
            data_dir.mkdir()
            deployment.save(data_dir / "deployment.json")
            authorities = start_authority_processes(
                tmp, chain.url, data_dir / "deployment.json", list(institutions)
            )
            keys_file = tmp / "relayers.keys"
            keys_file.write_text("".join("0x" + bytes(a.key).hex() + "\n" for a in relayers))
            keys_file.chmod(0o600)
            database_url = _create_database()
            time.sleep(1.5)  # the state file holds the deployment before anything may fail
            ports = [free_port() for _ in range(nodes)]
            for index, port in enumerate(ports):
                env = {
                    "MEDLEDGER_DATA_DIR": str(data_dir),
                    "MEDLEDGER_RPC_URL": chain.url,
                    "MEDLEDGER_DATABASE_URL": database_url,
                    "MEDLEDGER_RELAYER_KEYS_FILE": str(keys_file),
                    "MEDLEDGER_WORKER_INDEX": str(index),
                    "MEDLEDGER_SIWE_DOMAIN": f"127.0.0.1:{port}",
                    "MEDLEDGER_SIWE_URI": f"http://127.0.0.1:{port}",
                    "MEDLEDGER_INDEXER_POLL_INTERVAL": "0.2",
                    **{f"MEDLEDGER_{n.upper()}": "unlimited" for n in UNLIMITED},
                    **(settings or {}),
                }
                node = Node(index=index, port=port, env=env, log=tmp / f"api-{index}.log")
                node.start()
                started.append(node)
            for node in started:
                node.wait_ready()
            with MedLedgerClient(started[0].url, account=people["patient"]) as patient:
                patient.register_patient_key()  # the chart's own slot (the wallet does it once)
            yield Cluster(
                tmp=tmp,
                chain=chain,
                database_url=database_url,
                nodes=started,
                people=people,
                deployment=deployment,
                w3=w3,
            )
        finally:
            for node in started:
                node.stop()
            for process in authorities:
                stop_process(process)
            chain.stop()
            if database_url:
                with contextlib.suppress(Exception):
                    _drop_database(database_url)
