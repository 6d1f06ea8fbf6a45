"""Run institution key authorities as real processes (``medledger authority serve``).

Each authority gets its own key file (``medledger authority init``, low scrypt cost), is
registered on chain by its institution's admin (``medledger authority register``) and served
on a free port; requests are signed EIP-712 ``KeyRequest`` messages like a member's client
makes. Used by the property tests of issue 16.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from crypto.keys import generate_x25519_keypair, open_user_key
from crypto.signing import sign
from crypto.signing.authority import KeyRequest, key_authority_domain
from ledger_api.chain.anvil import free_port

PASSPHRASE = "authority test passphrase"
MEDLEDGER = [sys.executable, "-m", "clients.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*MEDLEDGER, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "AUTH_PASS": PASSPHRASE, **(env or {})},
        timeout=120,
    )
    return done


@dataclass
class AuthorityProcess:
    institution: int
    key_file: Path
    port: int
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, rpc: str, deployment: Path, rate: str = "100/minute") -> None:
        log = open(self.key_file.with_suffix(".log"), "w")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            [
                *MEDLEDGER,
                "authority",
                "serve",
                "--institution",
                str(self.institution),
                "--port",
                str(self.port),
                "--key-file",
                str(self.key_file),
                "--rpc",
                rpc,
                "--deployment",
                str(deployment),
                "--passphrase-env",
                "AUTH_PASS",
                "--rate",
                rate,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "AUTH_PASS": PASSPHRASE},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.key_file.with_suffix(".log").read_text())
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("authority did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def init_authority(tmp: Path, institution: int, name: str = "") -> AuthorityProcess:
    key_file = tmp / f"authority-{institution}{name}.key"
    done = run_cli(
        "authority",
        "init",
        "--institution",
        str(institution),
        "--key-file",
        str(key_file),
        "--passphrase-env",
        "AUTH_PASS",
        "--scrypt-log2-n",
        "10",
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return AuthorityProcess(institution=institution, key_file=key_file, port=free_port())


def register(
    authority: AuthorityProcess, *, admin_key: str, rpc: str, deployment: Path
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "authority",
        "register",
        "--institution",
        str(authority.institution),
        "--key-file",
        str(authority.key_file),
        "--url",
        authority.url,
        "--rpc",
        rpc,
        "--deployment",
        str(deployment),
        "--key-env",
        "ADMIN_KEY",
        env={"ADMIN_KEY": admin_key},
    )


def request_key(
    url: str,
    member: LocalAccount,
    *,
    institution: int,
    chain_id: int,
    consortium: str,
    issued_at: int | None = None,
    nonce: int | None = None,
    signer: LocalAccount | None = None,
) -> tuple[httpx.Response, bytes, dict[str, Any]]:
    """POST a signed key request; returns (response, X25519 private key, the body sent)."""
    pair = generate_x25519_keypair()
    message = KeyRequest(
        holder=member.address,
        institution_id=institution,
        recipient_key=pair.public_key,
        issued_at=int(time.time()) if issued_at is None else issued_at,
        nonce=secrets.randbits(63) if nonce is None else nonce,
    )
    domain = key_authority_domain(chain_id=chain_id, consortium=consortium)
    signature = sign(domain, message, (signer or member).key)
    body = {
        "request": {
            "holder": member.address,
            "institutionId": institution,
            "recipientKey": "0x" + pair.public_key.hex(),
            "issuedAt": message.issued_at,
            "nonce": message.nonce,
        },
        "signature": "0x" + signature.hex(),
    }
    return httpx.post(url + "/keys", json=body, timeout=30), pair.private_key, body


def open_key(response: httpx.Response, private_key: bytes) -> Any:
    import base64

    return open_user_key(base64.b64decode(response.json()["sealedKey"]), private_key)
