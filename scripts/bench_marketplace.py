#!/usr/bin/env python3
"""Marketplace benchmark: gas of a submission, a vote and an installation.

Starts its own anvil (free port, temp dir), deploys every contract, adds a hospital, enrols
``--samples`` vendors and sets the three administrator roles, then measures the signed writes
exactly as the API relays them (each signed by its actor, carried by the relayer, a fresh
random 64-bit nonce, realistic calldata: a 59-character CIDv1 manifest URI, a SHA-256
manifest digest, a Chinese rejection reason where one is needed). Gas is the median
``gasUsed`` over ``--samples`` apps:

- ``gas_submit``: a vendor's first version of a new app (claims the app id);
- ``gas_vote``: an administrator's first approval of a version in review;
- ``gas_vote_listing``: the third approval, which makes the version Live;
- ``gas_vote_listing_retire``: the third approval of version 2, which also retires version 1;
- ``gas_install``: an institution admin installs a Live app.

- ``token_issue_p50_ms``: the token endpoint's p50 on a code exchange (``bench_smart.py``,
  its own anvil and an in-process API; target ≤ 50 ms).

- ``app_read_p50_ms`` / ``direct_read_p50_ms``: one decrypted Observation obtained by an app
  through its user's client (introspection, reads signed for the app and logged on chain with
  its ids, decryption) against the user's own read (``bench_smart_reads.py``, the local stack
  with key authority processes); the table shows the difference.

    python scripts/bench_marketplace.py            # table
    python scripts/bench_marketplace.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto.signing import AdministratorRole, TypedMessage
from ledger_api.chain import marketplace as mk
from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.client import ChainClient
from ledger_api.chain.connection import connect
from ledger_api.chain.contract import Mined
from ledger_api.chain.deploy import deploy_all
from ledger_api.chain.devnode import DEV_ADMIN_KEY, DEV_DEPLOYER_KEY, DEV_RELAYER_KEY
from ledger_api.chain.relayer import Relayer
from scripts.bench_smart import token_issue_p50_ms
from scripts.bench_smart_reads import read_figures

DEADLINE = 2**40
LABELS = {
    "gas_submit": "gas per submission (new app)",
    "gas_vote": "gas per vote (approval in review)",
    "gas_vote_listing": "gas per listing vote (third approval)",
    "gas_vote_listing_retire": "gas per listing vote retiring the older version",
    "gas_install": "gas per installation",
}


@dataclass
class Bench:
    api: ChainClient
    admin: LocalAccount
    inst_admin: LocalAccount
    institution_id: int
    administrators: list[LocalAccount]


def cid(seed: bytes) -> str:
    """A CIDv1 (raw leaves, sha2-256) as ``ipfs add --cid-version=1`` prints it."""
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(seed).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def manifest(app: str, version: int) -> dict[str, object]:
    return {
        "name": app,
        "type": "clinical-visualisation",
        "description": "Blood-pressure trend chart",
        "vendor": "bench vendor",
        "version": f"1.{version}.0",
        "date": "2026-12-07",
        "smart_version": "2.2.0",
        "client_type": "public",
        "redirect_urls": [f"https://apps.example.cn/{app}/cb"],
        "launch_url": f"https://apps.example.cn/{app}/launch",
        "scopes": [{"scope": "patient/Observation.rs", "justification": "reads BP"}],
        "package_digest": hashlib.sha256(f"{app}{version}".encode()).hexdigest(),
    }


@contextmanager
def marketplace_on_anvil() -> Iterator[Bench]:
    with tempfile.TemporaryDirectory(prefix="medledger-bench-market-") as tmp:
        node = AnvilProcess(port=free_port(), log_file=Path(tmp) / "anvil.log")
        node.start()
        try:
            w3 = connect(node.url)
            admin = Account.from_key(DEV_ADMIN_KEY)
            deployment = deploy_all(
                w3,
                deployer_key=DEV_DEPLOYER_KEY,
                relayer=Account.from_key(DEV_RELAYER_KEY).address,
                admin=admin.address,
            )
            as_admin = ChainClient.bind(w3, deployment=deployment, relayer=Relayer(w3, admin.key))
            inst_admin = Account.create()
            added = as_admin.consortium.add_institution(
                name="成都市第三人民医院", code="cd3h", admin=inst_admin.address
            ).wait()
            api = ChainClient.bind(w3, deployment=deployment, relayer=Relayer(w3, DEV_RELAYER_KEY))
            administrators = [Account.create() for _ in AdministratorRole]
            bench = Bench(
                api=api,
                admin=admin,
                inst_admin=inst_admin,
                institution_id=added.event("InstitutionAdded").args["institutionId"],
                administrators=administrators,
            )
            for role, account in zip(AdministratorRole, administrators, strict=True):
                change = mk.administrator_change(
                    role=role, account=account.address, deadline=DEADLINE
                )
                send(bench, admin, change)
            yield bench
        finally:
            node.stop()


def send(bench: Bench, signer: LocalAccount, message: TypedMessage) -> Mined:
    market = bench.api.marketplace
    method = {
        "VendorChange": market.set_vendor,
        "AdministratorChange": market.set_administrator,
        "AppSubmission": market.submit_app,
        "AppVote": market.vote,
        "AppInstallation": market.set_installation,
    }[message.primary_type()]
    return method(message=message, signature=market.sign_as(signer, message)).wait()  # type: ignore[arg-type]


def measure(samples: int) -> dict[str, float]:
    gas: dict[str, list[int]] = {key: [] for key in LABELS}
    with marketplace_on_anvil() as bench:
        for n in range(samples):
            vendor = Account.create()
            send(
                bench,
                bench.admin,
                mk.vendor_change(vendor=vendor.address, enrolled=True, deadline=DEADLINE),
            )
            app_id = os.urandom(32)
            for version in (1, 2):
                sub = mk.submission(
                    app_id=app_id,
                    version=version,
                    manifest=manifest(f"app-{n}", version),
                    manifest_uri="ipfs://" + cid(app_id + bytes([version])),
                    deadline=DEADLINE,
                )
                mined = send(bench, vendor, sub)
                if version == 1:
                    gas["gas_submit"].append(mined.gas_used)
                votes = [
                    send(bench, who, mk.approval(app_id=app_id, version=version, deadline=DEADLINE))
                    for who in bench.administrators
                ]
                if version == 1:
                    gas["gas_vote"].append(votes[0].gas_used)
                    gas["gas_vote_listing"].append(votes[-1].gas_used)
                    install = mk.installation(
                        institution_id=bench.institution_id,
                        app_id=app_id,
                        install=True,
                        deadline=DEADLINE,
                    )
                    gas["gas_install"].append(send(bench, bench.inst_admin, install).gas_used)
                else:
                    gas["gas_vote_listing_retire"].append(votes[-1].gas_used)
    return {key: float(statistics.median(values)) for key, values in gas.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--samples", type=int, default=5, help="apps measured (median)")
    args = parser.parse_args(argv)
    results = measure(max(1, args.samples))
    token_p50 = token_issue_p50_ms()
    reads = read_figures()
    if args.json:
        gas = {key: int(value) for key, value in results.items()}
        rounded = {key: round(value, 2) for key, value in reads.items()}
        print(json.dumps({**gas, "token_issue_p50_ms": round(token_p50, 2), **rounded}))
        return 0
    table = Table(title=f"MedLedger marketplace benchmark (anvil, median of {args.samples} apps)")
    table.add_column("measure")
    table.add_column("key")
    table.add_column("gas", justify="right")
    for key, label in LABELS.items():
        table.add_row(label, key, f"{results[key]:,.0f}")
    table.add_row(
        "token endpoint p50, code exchange (ms)", "token_issue_p50_ms", f"{token_p50:.1f}"
    )
    app_ms, direct_ms = reads["app_read_p50_ms"], reads["direct_read_p50_ms"]
    table.add_row("an app's read of one Observation, p50 (ms)", "app_read_p50_ms", f"{app_ms:.1f}")
    table.add_row("the user's own read of it, p50 (ms)", "direct_read_p50_ms", f"{direct_ms:.1f}")
    table.add_row("the bridge's overhead (ms)", "", f"{app_ms - direct_ms:+.1f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
