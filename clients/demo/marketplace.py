"""The app marketplace's part of the story: the reference SMART app listed and installed.

The consortium admin enrols a vendor and the three administrator roles (platform provider,
regulator, consortium authority); the vendor uploads the blood-pressure chart's manifest
(:mod:`clients.smartapps`, its URLs on ``localhost`` so that the app runs on an origin other
than the workstation's ``127.0.0.1``) and submits it; each administrator approves it — it is
Live only after the third vote; the tertiary hospital's admin installs it. Every action is
signed by its actor in this process and relayed through ``POST /marketplace/actions/{kind}``,
as the workstation's pages do. The role holders are demo wallets in the data folder, so a
second run finds the app already listed and installed and only checks it.
"""

from __future__ import annotations

import time
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from clients import smartapps
from clients.demo import cast
from clients.demo.scene import ADMIN, Scene
from clients.sdk import MedLedgerClient
from clients.sdk.errors import ClientError, WalletNotFoundError
from crypto.signing import AdministratorRole, TypedMessage
from ledger_api.chain import marketplace as mk
from ledger_api.chain.devnode import DevKeys

ROLES = {
    "market-provider": AdministratorRole.PLATFORM_PROVIDER,
    "market-regulator": AdministratorRole.REGULATOR,
    "market-authority": AdministratorRole.CONSORTIUM_AUTHORITY,
}
VENDOR = "market-vendor"
INSTALLED_AT = "cd3h"
SIGNED_SECONDS = 600


def list_reference_app(story: Scene) -> None:
    """List the BP chart Live with three signed votes and install it at the tertiary hospital."""
    action = "lists the reference SMART app (BP chart): 3 administrator votes, then installs it"
    expected = "In Review after 2 votes, Live after the 3rd, installed at " + INSTALLED_AT
    try:
        observed = _list_and_install(story)
    except (ClientError, KeyError, ValueError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        story.report.step(ADMIN, action, expected=expected, observed=f"error: {message}", ok=False)
        return
    ok = observed.endswith("installed")
    story.report.step(ADMIN, action, expected=expected, observed=observed, ok=ok)


def _wallet(story: Scene, name: str) -> LocalAccount:
    try:
        wallet = story.wallets.get(name)
    except WalletNotFoundError:
        wallet = story.wallets.create(name, cast.DEMO_WALLET_PASSWORD)
    return wallet.unlock(cast.DEMO_WALLET_PASSWORD)


def _act(story: Scene, signer: LocalAccount, kind: str, message: TypedMessage) -> dict[str, Any]:
    """``message`` signed by ``signer`` (signed in) and relayed; the action's answer."""
    with MedLedgerClient(story.stack.api_url, account=signer, timeout=story.timeout) as client:
        signature = client.sign_action(message)
        payload = {
            key: "0x" + value.hex() if isinstance(value, bytes) else value
            for key, value in message.message().items()
        }
        return dict(
            client._http.json(
                "POST",
                f"/marketplace/actions/{kind}",
                json={"message": payload, "signature": "0x" + signature.hex()},
            )
        )


def _list_and_install(story: Scene) -> str:
    admin = Account.from_key(DevKeys.from_env().admin)  # DEV ONLY: the consortium admin
    deadline = int(time.time()) + SIGNED_SECONDS
    origin = story.stack.api_url.replace("://127.0.0.1", "://localhost")
    document = smartapps.manifest(smartapps.served_at(origin))
    app_id = bytes.fromhex(smartapps.software()["software_id"][2:])
    with MedLedgerClient(story.stack.api_url, timeout=story.timeout) as public:
        roles = public._http.json("GET", "/marketplace/roles")
    vendor = _wallet(story, VENDOR)
    if vendor.address.lower() not in {v["address"].lower() for v in roles["vendors"]}:
        _act(
            story,
            admin,
            "vendor",
            mk.vendor_change(vendor=vendor.address, enrolled=True, deadline=deadline),
        )
    voters = []
    held = {role: str(account or "") for role, account in roles["administrators"].items()}
    for name, role in ROLES.items():
        account = _wallet(story, name)
        voters.append(account)
        if held.get(role.name.lower(), "").lower() != account.address.lower():
            change = mk.administrator_change(role=role, account=account.address, deadline=deadline)
            _act(story, admin, "administrator", change)
    listing = _listing(story, app_id)
    if listing is None:
        with MedLedgerClient(story.stack.api_url, account=vendor, timeout=story.timeout) as seller:
            stored = seller._http.json("POST", "/marketplace/manifests", json=document)
        submission = mk.submission(
            app_id=app_id,
            version=1,
            manifest=document,
            manifest_uri=stored["uri"],
            deadline=deadline,
        )
        _act(story, vendor, "submit", submission)
        statuses = []
        for voter in voters:
            _act(story, voter, "vote", mk.approval(app_id=app_id, version=1, deadline=deadline))
            statuses.append(_status(story, app_id))
        observed = " → ".join(statuses)
    else:
        observed = f"already listed ({_status(story, app_id)})"
    institution = story.outcome.institutions[INSTALLED_AT]
    installed = _installed(story, institution, app_id)
    if not installed:
        install = mk.installation(
            institution_id=institution, app_id=app_id, install=True, deadline=deadline
        )
        _act(story, admin, "install", install)
        installed = _installed(story, institution, app_id)
    story.report.note(
        f"BP chart at {smartapps.served_at(origin)}/launch.html, app id 0x{app_id.hex()}"
    )
    return observed + (", installed" if installed else ", not installed")


def _listing(story: Scene, app_id: bytes) -> dict[str, Any] | None:
    with MedLedgerClient(story.stack.api_url, timeout=story.timeout) as public:
        try:
            return dict(public._http.json("GET", f"/marketplace/apps/0x{app_id.hex()}"))
        except ClientError:
            return None


def _status(story: Scene, app_id: bytes) -> str:
    listing = _listing(story, app_id) or {}
    versions = listing.get("versions") or [{}]
    return str(versions[-1].get("status", "unknown"))


def _installed(story: Scene, institution: int, app_id: bytes) -> bool:
    with MedLedgerClient(story.stack.api_url, timeout=story.timeout) as public:
        apps = public._http.json("GET", f"/marketplace/institutions/{institution}/apps")
    return any(str(a["app_id"]).lower() == "0x" + app_id.hex() for a in apps["items"])
