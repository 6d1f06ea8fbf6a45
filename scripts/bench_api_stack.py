"""The local stack ``bench_api.py`` measures, brought up the way a user would, and its clients.

``local_stack()`` makes a fresh data dir in a temp dir, starts anvil on a free port (automine,
like ``medledger node up``), deploys the contracts, enrols the demo consortium (the same people
as ``tests/api/conftest.py``), runs ``authority init`` and serves the API with uvicorn in a
subprocess. The patient consents to the cardiologist for the whole chart, so retrieves take the
ordinary consent path. Everything is stopped and deleted on exit.

Run as a script (``python scripts/bench_api_stack.py serve``) it is the API process itself,
optionally CPU-sampled in every thread (``MEDLEDGER_BENCH_PROFILE=<file>``, see
``bench_sampler.py``), which is how the server's bottlenecks were found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):  # the packages, and this folder's shared modules
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from authority_processes import start_authority_processes, stop_process  # noqa: E402

from clients.sdk import MedLedgerClient  # noqa: E402
from clients.sdk.models import RecordInfo  # noqa: E402
from ledger_api.chain.anvil import AnvilProcess, free_port  # noqa: E402
from ledger_api.chain.connection import connect  # noqa: E402
from ledger_api.chain.consortium import Consortium  # noqa: E402
from ledger_api.chain.contract import event_decoder  # noqa: E402
from ledger_api.chain.deploy import deploy_all  # noqa: E402
from ledger_api.chain.devnode import (  # noqa: E402
    DEV_ADMIN_KEY,
    DEV_DEPLOYER_KEY,
    DEV_RELAYER_KEY,
    enrol_demo_consortium,
)
from ledger_api.chain.relayer import Relayer  # noqa: E402

POLICY = "role:doctor and dept:cardiology"
POLICY_ONE_INSTITUTION = "role:doctor and dept:cardiology and org:cd3h"
"""A policy that reaches one institution (one FAME slot besides the patient's)."""
PROFILE_ENV = "MEDLEDGER_BENCH_PROFILE"
# rate limits the benchmark lifts (ledger_api.config): it measures throughput, not the limiter
BENCH_UNLIMITED = (
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


class Client:
    """One signed-in SDK client (one session, one keep-alive connection) of one person."""

    def __init__(
        self, url: str, account: LocalAccount, *, patient: str, policy: str = POLICY
    ) -> None:
        self.sdk = MedLedgerClient(url, account=account)
        self.sdk.login()
        self.patient = patient
        self.policy = policy
        self._user_key: Any = None

    @property
    def user_key(self) -> Any:
        if self._user_key is None:
            self._user_key = self.sdk.reader_key()
        return self._user_key

    def share(self, payload: bytes) -> RecordInfo:
        """Encrypt and share ``payload`` into the patient's chart (mined on return)."""
        return self.sdk.share(
            payload, patient=self.patient, policy=self.policy, record_type="Observation"
        )

    def retrieve(self, record_id: str) -> bytes:
        """Access check + on-chain log + download + decrypt; returns the plaintext."""
        return self.sdk.fetch_bytes(record_id, user_key=self.user_key)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sdk.logout()
        self.sdk.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its reaped children (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class BenchStack:
    """A running stack: the API's URL, the demo people, and the processes' ids (for CPU)."""

    url: str
    people: dict[str, LocalAccount]
    w3: Any = None
    registry: str = ""  # RecordRegistry's address
    pids: dict[str, int] = field(default_factory=dict)  # "api", "chain", "client"
    policy: str = POLICY  # the user policy every share uses
    _clients: dict[str, Client] = field(default_factory=dict)

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def registrations(self, since: int) -> tuple[int, int]:
        """``(records, transactions)`` registered after block ``since``: how well concurrent
        shares were batched into ``registerBatch`` transactions."""
        logs = self.w3.eth.get_logs({"address": self.registry, "fromBlock": since + 1})
        wanted = event_decoder().topic("RecordRegistered")
        registered = [log for log in logs if "0x" + bytes(log["topics"][0]).hex() == wanted]
        return len(registered), len({bytes(log["transactionHash"]) for log in registered})

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the stack."""
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    @property
    def patient(self) -> str:
        return str(self.people["patient"].address)

    def client(self, name: str, *, fresh: bool = False) -> Client:
        """The shared client of ``name`` (or a new one with its own session)."""
        if fresh:
            return Client(self.url, self.people[name], patient=self.patient, policy=self.policy)
        if name not in self._clients:
            self._clients[name] = Client(
                self.url, self.people[name], patient=self.patient, policy=self.policy
            )
        return self._clients[name]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _serve(tmp: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    log = open(tmp / "api.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited at start-up:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the API did not become ready:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (profile dumped)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def local_stack(
    *, profile: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[BenchStack]:
    """Chain, contracts, consortium, one key authority process per institution and the API
    (which holds no key: ``docs/key-authorities.md``) in a temp dir; all removed on exit.
    ``env``: more ``MEDLEDGER_*`` settings for the API (``scripts/bench_web_chart.py`` serves
    a fresh workstation build)."""
    with tempfile.TemporaryDirectory(prefix="medledger-bench-api-") as name:
        tmp = Path(name)
        node = AnvilProcess(port=free_port(), log_file=tmp / "anvil.log")
        node.start()
        api: subprocess.Popen[bytes] | None = None
        stack: BenchStack | None = None
        authority_processes: list[subprocess.Popen[bytes]] = []
        try:
            w3 = connect(node.url)
            relayer = Account.from_key(DEV_RELAYER_KEY).address
            deployment = deploy_all(
                w3,
                deployer_key=DEV_DEPLOYER_KEY,
                relayer=relayer,
                admin=Account.from_key(DEV_ADMIN_KEY).address,
            )
            data_dir = tmp / "data"
            data_dir.mkdir()
            deployment.save(data_dir / "deployment.json")
            people = {n: Account.create() for n in ("patient", "cardiologist", "gp", "auditor")}
            institutions = enrol_demo_consortium(
                Consortium(w3, deployment.address("Consortium"), sender=Relayer(w3, DEV_ADMIN_KEY)),
                admin_address=Account.from_key(DEV_ADMIN_KEY).address,
                cardiologist=people["cardiologist"].address,
                gp=people["gp"].address,
                auditor=people["auditor"].address,
            )
            authority_processes = start_authority_processes(
                tmp, node.url, data_dir / "deployment.json", list(institutions)
            )
            port = free_port()
            api_env = {
                "MEDLEDGER_DATA_DIR": str(data_dir),
                "MEDLEDGER_RPC_URL": node.url,
                "MEDLEDGER_RELAYER_KEY": DEV_RELAYER_KEY,
                "MEDLEDGER_SIWE_DOMAIN": f"127.0.0.1:{port}",
                "MEDLEDGER_SIWE_URI": f"http://127.0.0.1:{port}",
                # the benchmark's own limits, set explicitly: every request comes from one IP
                # and a handful of addresses, far faster than any person
                **{f"MEDLEDGER_{name.upper()}": "unlimited" for name in BENCH_UNLIMITED},
            }
            api_env.update(env or {})
            if profile is not None:
                api_env[PROFILE_ENV] = str(profile.resolve())
            url = f"http://127.0.0.1:{port}"
            api = _serve(tmp, api_env, port)
            _wait_ready(url, api, tmp / "api.log")
            assert node.process is not None
            pids = {"api": api.pid, "chain": node.process.pid, "client": os.getpid()}
            stack = BenchStack(
                url=url,
                people=people,
                w3=w3,
                registry=deployment.address("RecordRegistry"),
                pids=pids,
                policy=POLICY_ONE_INSTITUTION,
            )
            patient = MedLedgerClient(url, account=people["patient"])
            patient.login()
            patient.grant(grantee=people["cardiologist"].address)
            patient.register_patient_key()
            patient.close()
            yield stack
        finally:
            for process in authority_processes:
                stop_process(process)
            if stack is not None:
                stack.close()
            if api is not None:
                _stop(api)
            node.stop()


# ------------------------------------------------------------------ the API process


def serve(port: int) -> None:
    """The API (settings from ``MEDLEDGER_*``), one uvicorn worker, on ``127.0.0.1:port``."""
    import uvicorn
    from bench_sampler import Sampler

    from ledger_api.app import create_app

    profile = os.environ.get(PROFILE_ENV)
    sampler = Sampler(Path(profile)) if profile else None
    if sampler is not None:
        sampler.start()
    try:
        uvicorn.run(
            create_app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        if sampler is not None:
            sampler.stop()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve" and sys.argv[2] == "--port":
        serve(int(sys.argv[3]))
    else:
        raise SystemExit("usage: bench_api_stack.py serve --port PORT")
