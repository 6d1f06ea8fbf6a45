#!/usr/bin/env python3
"""SMART server benchmark: ``token_issue_p50_ms``, the median time of the token endpoint
exchanging an authorisation code (PKCE S256, public client) for a token (target ≤ 50 ms).

Starts its own anvil (free port, temp dir), deploys every contract, lists a public app Live
through the ``Marketplace`` binding (vendor and the three administrators enrolled by the
consortium admin's signatures, three signed approvals; manifest in the API's block store),
runs the API in process (``create_app`` under Starlette's TestClient on ``http://localhost``,
SQLite index, no indexer thread), registers the app (RFC 7591), signs a patient in (SIWE),
and for each sample walks the consent step (not timed: the patient's signed
``AppAuthorization`` goes on chain there) and times ``POST /smart/token``.

    python scripts/bench_smart.py            # the figure
    python scripts/bench_smart.py --json     # {"token_issue_p50_ms": ...}

``scripts/bench_marketplace.py`` imports :func:`token_issue_p50_ms` for its table.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from eth_account import Account
from eth_account.signers.local import LocalAccount

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient

from crypto import siwe
from crypto.signing import AdministratorRole, AppAuthorization, client_id_hash, scope_hash
from ledger_api.app import create_app
from ledger_api.chain import marketplace as mk
from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.connection import connect
from ledger_api.chain.deploy import deploy_all
from ledger_api.chain.devnode import DEV_ADMIN_KEY, DEV_DEPLOYER_KEY, DEV_RELAYER_KEY
from ledger_api.config import Settings

DEADLINE = 2**40
APP = "bench-bp-chart"
CALLBACK = f"https://apps.example.cn/{APP}/callback"
SCOPE = "launch/patient openid fhirUser patient/Observation.rs"


def manifest() -> dict[str, object]:
    return {
        "name": APP,
        "type": "clinical-visualisation",
        "vendor": "bench vendor",
        "version": "1.0.0",
        "date": "2026-12-07",
        "smart_version": "2.2.0",
        "client_type": "public",
        "redirect_urls": [CALLBACK],
        "launch_url": f"https://apps.example.cn/{APP}/launch",
        "scopes": [{"scope": s, "justification": "bench"} for s in SCOPE.split()],
        "package_digest": hashlib.sha256(APP.encode()).hexdigest(),
    }


def list_live(
    market: mk.Marketplace,
    document: dict[str, object],
    store_manifest: Callable[[LocalAccount, dict[str, object]], str],
) -> bytes:
    """List ``document`` Live through ``market``'s sender: the consortium admin (dev key)
    enrols a fresh vendor and the three administrators, the vendor stores the manifest
    (``store_manifest`` answers its ``ipfs://`` URI) and submits it, all three approve."""
    admin = Account.from_key(DEV_ADMIN_KEY)

    def send(method: object, signer: object, message: object) -> None:
        method(message=message, signature=market.sign_as(signer, message)).wait()  # type: ignore[operator, arg-type]

    vendor = Account.create()
    send(
        market.set_vendor,
        admin,
        mk.vendor_change(vendor=vendor.address, enrolled=True, deadline=DEADLINE),
    )
    admins = [Account.create() for _ in AdministratorRole]
    for role, account in zip(AdministratorRole, admins, strict=True):
        change = mk.administrator_change(role=role, account=account.address, deadline=DEADLINE)
        send(market.set_administrator, admin, change)
    app_id = hashlib.sha256(str(document["name"]).encode()).digest()
    uri = store_manifest(vendor, document)
    sub = mk.submission(
        app_id=app_id, version=1, manifest=document, manifest_uri=uri, deadline=DEADLINE
    )
    send(market.submit_app, vendor, sub)
    for account in admins:
        send(market.vote, account, mk.approval(app_id=app_id, version=1, deadline=DEADLINE))
    return app_id


def _list_app(client: TestClient) -> bytes:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]

    def store(_vendor: LocalAccount, document: dict[str, object]) -> str:
        return f"ipfs://{ctx.store.put(json.dumps(document).encode())}"

    return list_live(ctx.chain.marketplace, manifest(), store)


def _login(client: TestClient, account: object) -> dict[str, str]:
    grant = client.post("/auth/nonce", json={"address": account.address}).json()  # type: ignore[attr-defined]
    message = siwe.SiweMessage(
        domain=grant["domain"],
        address=account.address,  # type: ignore[attr-defined]
        uri=grant["uri"],
        chain_id=grant["chain_id"],
        nonce=grant["nonce"],
        issued_at=datetime.fromisoformat(grant["issued_at"]),
        expiration_time=datetime.fromisoformat(grant["expiration_time"]),
        statement="Sign in to MedLedger",
    )
    signature = siwe.sign(message, account.key)  # type: ignore[attr-defined]
    token = client.post(
        "/auth/login", json={"message": message.text(), "signature": "0x" + signature.hex()}
    ).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _code(
    client: TestClient, client_id: str, headers: dict[str, str], user: LocalAccount
) -> tuple[str, str]:
    """A code for ``user``'s approval, signed as the page signs it (``AppAuthorization``)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": SCOPE,
            "state": secrets.token_hex(8),
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    shown = client.get(f"/smart/authorize?{query}", headers=headers)
    shown.raise_for_status()
    consent = shown.json()
    scopes = [s["scope"] for s in consent["scopes"]]
    market = client.app.state.ctx.chain.marketplace  # type: ignore[attr-defined]
    message = AppAuthorization(
        user=user.address,
        patient=consent["patient"] or user.address,
        app_id=bytes.fromhex(consent["sign"]["app_id"][2:]),
        client_id=client_id_hash(client_id),
        scope_hash=scope_hash(scopes),
        nonce=secrets.randbits(256),
        deadline=int(time.time()) + 600,
    )
    signature = market.sign_as(user, message)
    decision = {
        "scopes": scopes,
        "authorization": {
            "nonce": str(message.nonce),
            "deadline": message.deadline,
            "signature": "0x" + signature.hex(),
        },
    }
    answer = client.post(f"/smart/authorize?{query}", headers=headers, json=decision)
    answer.raise_for_status()
    return parse_qs(urlsplit(answer.json()["redirect_to"]).query)["code"][0], verifier


def token_issue_p50_ms(samples: int = 50) -> float:
    """Median milliseconds of ``POST /smart/token`` for a code exchange."""
    with tempfile.TemporaryDirectory(prefix="medledger-bench-smart-") as tmp:
        node = AnvilProcess(port=free_port(), log_file=Path(tmp) / "anvil.log")
        node.start()
        try:
            w3 = connect(node.url)
            deployment = deploy_all(
                w3,
                deployer_key=DEV_DEPLOYER_KEY,
                relayer=Account.from_key(DEV_RELAYER_KEY).address,
                admin=Account.from_key(DEV_ADMIN_KEY).address,
            )
            deployment.save(Path(tmp) / "deployment.json")
            settings = Settings(  # type: ignore[call-arg]
                rpc_url=node.url,
                deployment_file=Path(tmp) / "deployment.json",
                data_dir=Path(tmp) / "data",
                block_store="local",
                relayer_key=DEV_RELAYER_KEY,
                indexer_enabled=False,
                siwe_domain="localhost",
                siwe_uri="http://localhost",
                rate_sign_in_per_address="100000/minute",
                rate_sign_in_per_ip="100000/minute",
            )
            app = create_app(settings)
            # the request log's line per request is not what is measured (and not on stdout)
            logging.getLogger("ledger_api.access").setLevel(logging.WARNING)
            with TestClient(app, base_url="http://localhost") as client:
                app_id = _list_app(client)
                registered = client.post(
                    "/smart/register",
                    json={
                        "software_id": "0x" + app_id.hex(),
                        "software_version": "1",
                        "redirect_uris": [CALLBACK],
                    },
                )
                registered.raise_for_status()
                client_id = registered.json()["client_id"]
                user = Account.create()
                headers = _login(client, user)
                times = []
                for _ in range(samples + 3):  # the first three warm caches up, not counted
                    code, verifier = _code(client, client_id, headers, user)
                    form = {
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": CALLBACK,
                        "client_id": client_id,
                        "code_verifier": verifier,
                    }
                    start = time.perf_counter()
                    response = client.post("/smart/token", data=form)
                    times.append((time.perf_counter() - start) * 1000)
                    response.raise_for_status()
                return float(statistics.median(times[3:]))
        finally:
            node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--samples", type=int, default=50, help="code exchanges timed")
    args = parser.parse_args(argv)
    p50 = token_issue_p50_ms(max(1, args.samples))
    if args.json:
        print(json.dumps({"token_issue_p50_ms": round(p50, 2)}))
    else:
        print(f"token_issue_p50_ms  {p50:.2f} ms  (p50 of {args.samples} code exchanges)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
