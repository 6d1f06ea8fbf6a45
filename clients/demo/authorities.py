"""The demo consortium's key authorities: one process and one key file per institution.

No single key escrow (``docs/key-authorities.md``): each institution of the demo runs its own
FAME key authority, as a hospital would on its own machine. For each one this module

- creates its encrypted key file once (``<data dir>/authorities/<code>/authority.key``, the
  same :func:`~ledger_api.authority.keyfile.init_key_file` ``medledger authority init`` runs),
- has **that institution's admin** record its public-key digest, signer and URL on chain
  (``Consortium.registerAuthority``, as ``medledger authority register`` does), again whenever
  the URL changed,
- serves it with ``medledger authority serve`` in its own session on a free port, reusing a
  process of an earlier run that still serves the same key at the URL the chain names.

Before serving, the consortium admin opens the emergency-key ceremony (t = 2 of n = 4) and the
four authorities run it, each as its own ``medledger authority dkg join`` process, unless the
chain's current key already is theirs and each holds its share. Records shared afterwards
carry the threshold emergency slot.

DEV ONLY: the passphrases below are published and the scrypt cost is the lowest
(``SCRYPT_MIN_LOG2_N``): a demonstration, never a place for real keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from eth_account import Account

from clients.demo.errors import DemoError
from clients.demo.processes import authorities_root, is_authority_serve, stop_authority
from clients.demo.stack import LocalStack
from crypto.keys import SCRYPT_MIN_LOG2_N
from ledger_api.authority.dkg import share_path
from ledger_api.authority.keyfile import init_key_file, public_part
from ledger_api.chain.anvil import free_port
from ledger_api.chain.connection import connect
from ledger_api.chain.consortium import Consortium
from ledger_api.chain.devnode import NodeLayout, process_alive
from ledger_api.chain.emergency_keys import EmergencyKeysClient
from ledger_api.errors import LedgerApiError

THRESHOLD = 2
SERVE_RATE = "600/minute"  # key requests per member: two demo runs a minute stay well below
READY_TIMEOUT = 60.0
DKG_TIMEOUT = 180.0
PASSPHRASE_ENV = "MEDLEDGER_DEMO_AUTHORITY_PASSPHRASE"
MEDLEDGER = [sys.executable, "-m", "clients.cli"]


def passphrase_for(code: str) -> str:
    """DEV ONLY: the published passphrase of ``code``'s demo authority (one per institution)."""
    return f"medledger-demo-authority-{code} (dev only, public)"


@dataclass
class AuthorityRun:
    """One institution's authority as the demo found or started it."""

    code: str
    institution: int
    folder: Path
    digest: bytes = b""
    signer: str = ""
    port: int = 0
    pid: int = 0
    started: bool = False
    created: bool = False
    registered_tx: str | None = None

    @property
    def key_file(self) -> Path:
        return self.folder / "authority.key"

    @property
    def state_file(self) -> Path:
        return self.folder / "serve.json"

    @property
    def log_file(self) -> Path:
        return self.folder / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "institution": self.institution,
            "key_file": str(self.key_file),
            "digest": "0x" + self.digest.hex(),
            "signer": self.signer,
            "url": self.url,
            "pid": self.pid,
            "started": self.started,
            "created": self.created,
            "registered_tx": self.registered_tx,
        }


@dataclass
class EmergencyKeyInfo:
    """The consortium emergency key the authorities hold shares of."""

    key_round: int
    t: int
    n: int
    institutions: tuple[int, ...]
    key: str
    made_now: bool
    seconds: float = 0.0
    open_tx: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "round": self.key_round,
            "t": self.t,
            "n": self.n,
            "institutions": list(self.institutions),
            "key": self.key,
            "made_now": self.made_now,
            "seconds": round(self.seconds, 2),
            "open_tx": self.open_tx,
        }


@dataclass
class Authorities:
    runs: list[AuthorityRun] = field(default_factory=list)
    emergency: EmergencyKeyInfo | None = None


def ensure_authorities(
    stack: LocalStack, institutions: dict[str, int], *, admin: Consortium, admin_key: str
) -> Authorities:
    """Key files, registrations, the emergency key and serving processes of ``institutions``
    (code → id); what this run starts is remembered on ``stack`` and stopped with it."""
    deployment_file = _deployment_file(stack)
    runs = [
        AuthorityRun(code, number, authorities_root(stack.data_dir) / code)
        for code, number in institutions.items()
    ]
    for run in runs:
        _key_file(run)
        if not _reusable(run, admin):
            _stop_recorded(run)
            run.port = free_port()
        _register(run, admin)
    emergency = _emergency_key(stack, runs, deployment_file, admin_key)
    starting = []
    for run in runs:
        if run.pid and not emergency.made_now:
            continue  # still serving this key, and the share it loaded is the current one
        _stop_recorded(run)
        _serve(stack, run, deployment_file)
        starting.append(run)
    for run in starting:  # started together: each one's start-up (imports, chain) overlaps
        _wait_ready(run)
    return Authorities(runs=runs, emergency=emergency)


def _deployment_file(stack: LocalStack) -> Path:
    path = NodeLayout(stack.data_dir).deployment_file
    if path.exists():
        return path
    path = authorities_root(stack.data_dir) / "deployment.json"  # a chain the demo did not start
    path.parent.mkdir(parents=True, exist_ok=True)
    stack.deployment.save(path)
    return path


def _key_file(run: AuthorityRun) -> None:
    if not run.key_file.exists():
        try:
            init_key_file(
                run.key_file,
                passphrase_for(run.code),
                institution_id=run.institution,
                log2_n=SCRYPT_MIN_LOG2_N,
            )
        except LedgerApiError as exc:
            raise DemoError(f"cannot create {run.code}'s key authority: {exc}") from None
        run.created = True
    number, mpk, signer = public_part(run.key_file)
    if number != run.institution:
        raise DemoError(
            f"{run.key_file} is institution {number}'s key, but {run.code} is #{run.institution} "
            f"on this chain; move {run.folder} aside"
        )
    run.digest, run.signer = hashlib.sha256(mpk).digest(), signer


def _reusable(run: AuthorityRun, admin: Consortium) -> bool:
    """A recorded ``authority serve`` that is alive, serves this key file's key and sits at
    the URL the chain names: keep it (and its port)."""
    try:
        state = json.loads(run.state_file.read_text())
        pid, port = int(state["pid"]), int(state["port"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return False
    if not is_authority_serve(pid):
        return False
    url = f"http://127.0.0.1:{port}"
    try:
        answer = httpx.get(url + "/authority", timeout=3.0).json()
        digest = bytes.fromhex(str(answer["digest"]).removeprefix("0x"))
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return False
    on_chain = admin.authority_of(run.institution)
    if digest != run.digest or on_chain.url != url or on_chain.pubkey_digest != run.digest:
        return False
    run.pid, run.port = pid, port
    return True


def _register(run: AuthorityRun, admin: Consortium) -> None:
    """The institution's admin records digest, signer and URL, unless the chain has them."""
    on_chain = admin.authority_of(run.institution)
    if (on_chain.pubkey_digest, on_chain.signer.lower(), on_chain.url) == (
        run.digest,
        run.signer.lower(),
        run.url,
    ):
        return
    try:
        mined = admin.register_authority(
            institution_id=run.institution,
            pubkey_digest=run.digest,
            signer=run.signer,
            url=run.url,
        ).wait()
    except LedgerApiError as exc:
        raise DemoError(f"{run.code}'s admin cannot register its authority: {exc}") from None
    run.registered_tx = mined.tx_hash


# -- the emergency key ---------------------------------------------------------------------


def _emergency_key(
    stack: LocalStack, runs: list[AuthorityRun], deployment_file: Path, admin_key: str
) -> EmergencyKeyInfo:
    """The current emergency key when it is these authorities'; else a new DKG round."""
    w3 = connect(stack.rpc_url, expected_chain_id=stack.deployment.chain_id)
    address = stack.deployment.address("EmergencyKeys")
    keys = EmergencyKeysClient(w3, address, account=Account.from_key(admin_key))
    ids = tuple(run.institution for run in runs)
    current = keys.current_round()
    theirs = current and sorted(keys.round_info(current).institutions) == sorted(ids)
    if theirs and all(share_path(run.key_file, current).exists() for run in runs):
        info = keys.round_info(current)
        key = "0x" + keys.public_key(current).h_bytes().hex()
        return EmergencyKeyInfo(current, info.t, info.n, info.institutions, key, False)
    started = time.monotonic()
    number = keys.latest_round() + 1
    try:
        receipt = keys.open_round(number, THRESHOLD, list(ids))
    except LedgerApiError as exc:
        raise DemoError(f"the consortium admin cannot open DKG round {number}: {exc}") from None
    where = ["--rpc", stack.rpc_url, "--deployment", str(deployment_file)]
    joins = [
        subprocess.Popen(
            [
                *MEDLEDGER,
                "authority",
                "dkg",
                "join",
                "--key-file",
                str(run.key_file),
                "--round",
                str(number),
                *where,
                "--passphrase-env",
                PASSPHRASE_ENV,
                "--timeout",
                str(int(DKG_TIMEOUT)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(run),
        )
        for run in runs
    ]
    failed = []
    for run, process in zip(runs, joins, strict=True):
        try:
            out, _ = process.communicate(timeout=DKG_TIMEOUT + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        if process.returncode != 0:
            failed.append(f"{run.code}: {(out or '').strip().splitlines()[-1:]}")
    if failed:
        raise DemoError(f"the emergency-key ceremony (round {number}) failed: {'; '.join(failed)}")
    info = keys.round_info(number)
    return EmergencyKeyInfo(
        number,
        info.t,
        info.n,
        info.institutions,
        "0x" + keys.public_key(number).h_bytes().hex(),
        True,
        seconds=time.monotonic() - started,
        open_tx="0x" + bytes(receipt["transactionHash"]).hex(),
    )


# -- the serving processes -----------------------------------------------------------------


def _env(run: AuthorityRun) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDLEDGER_")}
    env.update({PASSPHRASE_ENV: passphrase_for(run.code), "PYTHONUNBUFFERED": "1"})
    return env


def _serve(stack: LocalStack, run: AuthorityRun, deployment_file: Path) -> None:
    """``medledger authority serve`` in its own session (it outlives ``--keep-running``)."""
    command = [
        *MEDLEDGER, "authority", "serve", "--institution", str(run.institution),
        "--port", str(run.port), "--key-file", str(run.key_file),
        "--rpc", stack.rpc_url, "--deployment", str(deployment_file),
        "--passphrase-env", PASSPHRASE_ENV, "--rate", SERVE_RATE,
    ]  # fmt: skip
    fd = os.open(run.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        process = subprocess.Popen(
            command,
            env=_env(run),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run.pid, run.started = process.pid, True
    stack.started_authorities.append(process.pid)
    run.state_file.write_text(json.dumps({"pid": process.pid, "port": run.port}) + "\n")


def _wait_ready(run: AuthorityRun) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not process_alive(run.pid):
            raise DemoError(f"{run.code}'s key authority exited at start-up (log {run.log_file})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(run.url + "/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise DemoError(f"{run.code}'s key authority at {run.url} was not ready (log {run.log_file})")


def _stop_recorded(run: AuthorityRun) -> None:
    stop_authority(run.state_file)


__all__ = [
    "THRESHOLD",
    "Authorities",
    "AuthorityRun",
    "EmergencyKeyInfo",
    "ensure_authorities",
    "passphrase_for",
]
