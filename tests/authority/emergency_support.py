"""A consortium whose emergency key was made by real authority processes.

Three (or four) institutions, each with its own ``medledger authority init`` key file,
registered by its own admin; the consortium admin opens a DKG round (``authority dkg init``);
each authority runs ``authority dkg join`` as its own process, at the same time; then each is
served (``authority serve``), emergency routes included. Also a forging authority: an HTTP
server that answers share requests with well-formed shares whose proofs fail.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from eth_account import Account
from eth_utils import keccak

from crypto.threshold.group import G, random_fr
from crypto.threshold.slot import seal_shares
from crypto.threshold.tdh2 import DecryptionShare
from ledger_api.chain.anvil import free_port
from tests.authority.support import (
    MEDLEDGER,
    PASSPHRASE,
    AuthorityProcess,
    init_authority,
    register,
    run_cli,
)
from tests.contracts.helpers import Chain, b32

EXTRA = (("青羊区社区卫生服务中心", "qingyang"), ("成华区社区卫生服务中心", "chenghua"))


def add_institutions(chain: Chain, count: int) -> dict[int, str]:
    """Institutions 3.. with admins; ``{institution: admin private key hex}`` for all."""
    admins = {
        1: chain.accounts["inst_a_admin"].key.hex(),
        2: chain.accounts["inst_b_admin"].key.hex(),
    }
    con = chain.c["Consortium"].functions
    for k in range(count - 2):
        name, code = EXTRA[k]
        admin = Account.from_key(keccak(text=f"medledger emergency test admin {code}"))
        chain.send("admin", con.addInstitution(name, b32(code), admin.address))
        admins[3 + k] = admin.key.hex()
    return admins


def make_consortium(chain: Chain, *, rpc: str, deployment: Path, tmp: Path, t: int, n: int):
    """``n`` authorities initialised, registered, a DKG round run by their processes, served."""
    admins = add_institutions(chain, n)
    authorities = {i: init_authority(tmp, i) for i in range(1, n + 1)}
    for i, authority in authorities.items():
        done = register(authority, admin_key=admins[i], rpc=rpc, deployment=deployment)
        assert done.returncode == 0, done.stderr + done.stdout
    run_dkg(
        list(authorities.values()),
        rpc=rpc,
        deployment=deployment,
        admin_key=chain.accounts["admin"].key.hex(),
        t=t,
    )
    for authority in authorities.values():
        authority.start(rpc=rpc, deployment=deployment)
    return authorities


def run_dkg(
    authorities: list[AuthorityProcess], *, rpc: str, deployment: Path, admin_key: str, t: int
) -> None:
    """``authority dkg init`` by the consortium admin, then every authority's ``dkg join`` as
    its own process, all at once (they must be online together)."""
    institutions = ",".join(str(a.institution) for a in authorities)
    done = run_cli(
        "authority", "dkg", "init", "--threshold", str(t),
        "--institutions", institutions,
        "--rpc", rpc, "--deployment", str(deployment), "--key-env", "ADMIN_KEY",
        env={"ADMIN_KEY": admin_key},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    joins = [
        subprocess.Popen(
            [
                *MEDLEDGER,
                "authority",
                "dkg",
                "join",
                "--key-file",
                str(a.key_file),
                "--rpc",
                rpc,
                "--deployment",
                str(deployment),
                "--passphrase-env",
                "AUTH_PASS",
                "--timeout",
                "120",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "AUTH_PASS": PASSPHRASE},
        )
        for a in authorities
    ]
    for process in joins:
        out, _ = process.communicate(timeout=180)
        assert process.returncode == 0, out


class ForgingAuthority:
    """Answers every share request with shares of a wrong secret, sealed properly."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.port = free_port()
        forger = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recipient = bytes.fromhex(body["request"]["recipientKey"][2:])
                shares = []
                for record in body["records"]:
                    fake = DecryptionShare(forger.index, G * random_fr(), random_fr(), random_fr())
                    shares.append((bytes.fromhex(record["recordId"][2:]), fake.to_bytes()))
                answer = {
                    "index": forger.index,
                    "round": 1,
                    "sealedShares": base64.b64encode(seal_shares(shares, recipient)).decode(),
                    "txHashes": [],
                }
                raw = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = ["AuthorityProcess", "ForgingAuthority", "make_consortium", "run_dkg"]
