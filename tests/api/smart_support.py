"""Helpers for the SMART server tests: a marketplace on the stack's chain (vendor and the
three administrators enrolled by the consortium admin's signatures, carried by the API's
relayer through the ``Marketplace`` binding), apps published with their manifest in the
block store, an institution's install, and the user's page acting on the consent step."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from crypto.signing import (
    AdministratorRole,
    AppAuthorization,
    AppRevocation,
    client_id_hash,
    scope_hash,
)
from ledger_api.chain import marketplace as mk
from ledger_api.context import AppContext
from tests.api.conftest import Stack

FAR = int(time.time()) + 86_400
CALLBACK = "https://apps.example.cn/bp-chart/callback"


def manifest(name: str = "bp-chart", *, scopes: list[str] | None = None, **changes: Any) -> dict:
    document: dict[str, Any] = {
        "name": "血压趋势图 BP chart",
        "type": "clinical-visualisation",
        "description": "Plots a patient's blood-pressure Observations over time.",
        "vendor": "Chengdu Health Apps",
        "version": "1.0.0",
        "date": "2026-12-07",
        "smart_version": "2.2.0",
        "client_type": "public",
        "redirect_urls": [f"https://apps.example.cn/{name}/callback"],
        "launch_url": f"https://apps.example.cn/{name}/launch",
        "scopes": [
            {"scope": s, "justification": "needed"}
            for s in (
                scopes
                or [
                    "launch",
                    "launch/patient",
                    "openid",
                    "fhirUser",
                    "offline_access",
                    "patient/Observation.rs",
                ]
            )
        ],
        "package_digest": "sha256:" + keccak(text=name).hex(),
    }
    document.update(changes)
    return document


@dataclass
class Market:
    stack: Stack
    vendor: LocalAccount
    admins: dict[AdministratorRole, LocalAccount]
    ctx: AppContext  # the running API's: its relayer carries the signed actions

    @property
    def binding(self) -> mk.Marketplace:
        return self.ctx.chain.marketplace

    def publish(
        self, name: str, document: dict, *, version: int = 1, votes: int = 3, reject: bool = False
    ) -> bytes:
        """Submit ``document`` as ``name`` v``version``; ``votes`` approvals (or a rejection)."""
        app_id = keccak(text=f"app:{name}")
        cid = self.ctx.store.put(json.dumps(document).encode("utf-8"))
        sub = mk.submission(
            app_id=app_id,
            version=version,
            manifest=document,
            manifest_uri=f"ipfs://{cid}",
            deadline=FAR,
        )
        self.binding.submit_app(
            message=sub, signature=self.binding.sign_as(self.vendor, sub)
        ).wait()
        for account in list(self.admins.values())[:votes]:
            ballot = (
                mk.rejection(app_id=app_id, version=version, reason="no", deadline=FAR)
                if reject
                else mk.approval(app_id=app_id, version=version, deadline=FAR)
            )
            self.binding.vote(
                message=ballot, signature=self.binding.sign_as(account, ballot)
            ).wait()
            if reject:
                break
        return app_id

    def install(self, institution_id: int, app_id: bytes) -> None:
        message = mk.installation(
            institution_id=institution_id, app_id=app_id, install=True, deadline=FAR
        )
        signature = self.binding.sign_as(self.stack.admin, message)
        self.binding.set_installation(message=message, signature=signature).wait()


def open_market(stack: Stack, ctx: AppContext | None = None) -> Market:
    """Vendor and administrators enrolled through ``ctx`` (default: the stack's app)."""
    ctx = ctx or stack.ctx
    binding = ctx.chain.marketplace
    vendor = Account.create()
    message = mk.vendor_change(vendor=vendor.address, enrolled=True, deadline=FAR)
    binding.set_vendor(message=message, signature=binding.sign_as(stack.admin, message)).wait()
    admins = {}
    for role in AdministratorRole:
        account = Account.create()
        change = mk.administrator_change(role=role, account=account.address, deadline=FAR)
        binding.set_administrator(message=change, signature=binding.sign_as(stack.admin, change))
        admins[role] = account
    # the last change is awaited through a fresh read below
    deadline = time.monotonic() + 20
    while binding.administrator(list(AdministratorRole)[-1]) != list(admins.values())[-1].address:
        if time.monotonic() > deadline:
            raise TimeoutError("administrators not set")
        time.sleep(0.05)
    return Market(stack, vendor, admins, ctx)


def register(base: str, app_id: bytes, version: int = 1, **metadata: Any) -> requests.Response:
    body = {
        "software_id": "0x" + app_id.hex(),
        "software_version": str(version),
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
        **metadata,
    }
    return requests.post(f"{base}/smart/register", json=body, timeout=30)


def app_session(base: str, client_id: str, scope: str) -> tuple[OAuth2Session, str]:
    """authlib's client for a public app, and its PKCE verifier."""
    session = OAuth2Session(
        client_id=client_id,
        redirect_uri=CALLBACK,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    return session, generate_token(64)


def authorize_url(session: OAuth2Session, base: str, verifier: str, **extra: Any) -> str:
    url, _state = session.create_authorization_url(
        f"{base}/smart/authorize", code_verifier=verifier, aud=base, **extra
    )
    return url


def signed_authorization(
    market: Market, user: LocalAccount, shown: dict, decision: dict, *, deadline: int | None = None
) -> dict[str, Any]:
    """What the page signs an approval with: ``AppAuthorization`` of the scopes it approves
    (those of ``decision`` the screen offered, else all offered), for the patient in context
    (or the one the decision picks, or the user)."""
    offered = [s["scope"] for s in shown["scopes"]]
    chosen = decision.get("scopes")
    granted = offered if chosen is None else [s for s in chosen if s in offered]
    patient = shown["patient"] or decision.get("patient") or user.address
    message = AppAuthorization(
        user=user.address,
        patient=patient,
        app_id=bytes.fromhex(shown["sign"]["app_id"][2:]),
        client_id=client_id_hash(shown["client_id"]),
        scope_hash=scope_hash(granted),
        nonce=mk.new_nonce(),
        deadline=deadline or int(time.time()) + 600,
    )
    signature = market.binding.sign_as(user, message)
    return {
        "nonce": str(message.nonce),
        "deadline": message.deadline,
        "signature": "0x" + signature.hex(),
    }


def signed_revocation(
    market: Market, patient: LocalAccount, app_id: bytes, *, signer: LocalAccount | None = None
) -> dict[str, Any]:
    """The patient's page signing ``AppRevocation`` of ``app_id`` (``signer``: someone else
    signing it, for the attacks)."""
    message = AppRevocation(
        patient=patient.address,
        app_id=app_id,
        nonce=mk.new_nonce(),
        deadline=int(time.time()) + 600,
    )
    signature = market.binding.sign_as(signer or patient, message)
    return {
        "nonce": str(message.nonce),
        "deadline": message.deadline,
        "signature": "0x" + signature.hex(),
    }


def page_approves(world: World, url: str, user: LocalAccount, decision: dict | None = None) -> Any:
    """The user's page: reads the consent request, then posts the decision, signing the
    approval (``AppAuthorization``) as the page does unless the decision denies or already
    carries one."""
    headers = world.headers(user)
    shown = requests.get(url, headers=headers, timeout=30)
    assert shown.status_code == 200, shown.text
    body = dict(decision or {})
    if not body.get("deny") and "authorization" not in body:
        body["authorization"] = signed_authorization(world.market, user, shown.json(), body)
    answer = requests.post(url, headers=headers, json=body, timeout=30)
    return shown.json(), answer


@dataclass
class World:
    stack: Stack
    market: Market
    base: str
    app_id: bytes

    def headers(self, account: LocalAccount) -> dict[str, str]:
        return self.stack.login(account)

    def count(self, model: Any) -> int:
        import sqlalchemy as sa

        with self.stack.ctx.sessions() as db:
            return int(db.scalar(sa.select(sa.func.count()).select_from(model)) or 0)

    def client_id(self, app_id: bytes | None = None, **metadata: Any) -> str:
        response = register(self.base, app_id or self.app_id, **metadata)
        assert response.status_code == 201, response.text
        return response.json()["client_id"]


def make_world(stack: Stack, base: str) -> World:
    """A Live ``bp-chart`` installed at cd3h (not at qyqchc)."""
    market = open_market(stack)
    app_id = market.publish("bp-chart", manifest())
    market.install(stack.cd3h, app_id)
    return World(stack, market, base, app_id)
