"""Who may launch an app, and what a token may hold.

A token's scope is the intersection of (1) what the listing's manifest declares (the client
was registered with no more, :mod:`.registration`), (2) for a member of an institution, what
the institution installed — the app must be launchable there (``Marketplace.isLaunchable``)
and the scopes are cut to the manifest of the version it installed, and (3) what the user
approves on the consent screen (they can only narrow). Patients may connect Live apps
themselves, for their own chart only. The patient's on-chain consents are NOT part of the
token: they are enforced at each read, when the user's page asks for a record and the API
decides as for any read (``docs/marketplace.md``), so a consent revoked after the token was
issued takes effect at the next read, not at the next token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from ledger_api.context import AppContext
from ledger_api.principal import Principal
from ledger_api.smart import manifest as mf
from ledger_api.smart import scopes as sc
from ledger_api.smart.errors import LaunchRefusedError, ScopeSyntaxError
from ledger_api.smart.store import Approval, Client, SmartUser, checksum, digest, now
from storage.models import SmartLaunch

LAUNCH_SECONDS = 300


def installed_version(ctx: AppContext, institution_id: int, app_id: bytes) -> int:
    """``Marketplace.installedVersionOf``."""
    return ctx.chain.marketplace.installed_version_of(institution_id, app_id)


def launch_refusal(
    ctx: AppContext, client: Client | None, address: str, *, app_id: bytes | None = None
) -> str | None:
    """Why ``address`` may not launch ``client`` (or, without one, any client of the app
    ``app_id``) now; None: they may."""
    from ledger_api.services import auth as auth_service

    market = ctx.chain.marketplace
    app = client.app_id if client is not None else app_id
    assert app is not None
    live = market.live_version_of(app)
    if client is not None and live != client.row.version:
        return f"version {client.row.version} of this app is not Live on the marketplace"
    if live == 0:
        return "this app has no Live version on the marketplace"
    principal = auth_service.principal_for(ctx=ctx, address=address)
    if principal.is_member and not market.is_launchable(principal.institution_id, app):
        return f"institution {principal.institution_id} has not installed this app"
    return None


@dataclass(frozen=True)
class LaunchRequest:
    """A validated authorisation request, before the user's decision."""

    client: Client
    requested: list[sc.Scope]  # asked and covered by the registration
    allowed: list[sc.Scope]  # ... and by the institution's installed version
    patient: str | None  # from the EHR launch context; None: to pick (or the patient)
    needs_patient_pick: bool


def _launch_row(db: Session, launch: str, client: Client, principal: Principal) -> SmartLaunch:
    row = db.get(SmartLaunch, digest(launch)) if len(launch) <= 128 else None
    for_client = row is not None and (
        row.client_id == client.get_client_id()
        or (not row.client_id and row.app_id == client.row.app_id)
    )
    if (
        row is None
        or row.expires_at <= now()
        or not for_client
        or row.user != principal.address.lower()
    ):
        raise InvalidRequestError("unknown or expired launch context")
    return row


def review(ctx: AppContext, db: Session, principal: Principal, grant: Any) -> LaunchRequest:
    """Check that ``principal`` may launch the app of ``grant`` and work out the scopes."""
    request = grant.request
    client: Client = request.client
    refusal = launch_refusal(ctx, client, principal.address)
    if refusal:
        raise LaunchRefusedError(refusal)
    requested = sc.parse_all(request.scope)
    allowed = requested
    if principal.is_member:
        version = installed_version(ctx, principal.institution_id, client.app_id)
        installed = mf.load(ctx.chain.marketplace, ctx.store, client.app_id, version)
        allowed = sc.covered(requested, installed.scopes)
    names = {s.text for s in requested}
    launch = request.payload.data.get("launch")
    patient: str | None = None
    if launch:
        if "launch" not in names:
            raise InvalidRequestError("the launch parameter needs the 'launch' scope")
        patient = checksum(_launch_row(db, launch, client, principal).patient)
    elif "launch" in names:
        raise InvalidRequestError("the 'launch' scope needs a launch parameter (EHR launch)")
    wants_patient = any(s.context == "patient" for s in allowed) or "launch/patient" in names
    pick = False
    if patient is None and wants_patient:
        if principal.is_member:
            pick = True
        else:
            patient = principal.address  # a patient connects apps to their own chart
    return LaunchRequest(client, requested, allowed, patient, pick)


def describe(review: LaunchRequest, ctx: AppContext, principal: Principal) -> dict[str, Any]:
    """What the consent screen shows (zh-CN and English), and what the page signs its
    approval with (``sign``: ``AppAuthorization`` over the scopes it approves)."""
    from crypto.signing import client_id_hash
    from ledger_api.smart.authorization import signing_context

    client = review.client
    return {
        "client_id": client.get_client_id(),
        "app": {
            "app_id": client.row.app_id,
            "version": client.row.version,
            "name": client.row.name,
            "launch_url": client.row.launch_url,
        },
        "scopes": [sc.explain(s) for s in review.allowed],
        "dropped_scopes": [s.text for s in review.requested if s not in review.allowed],
        "patient": review.patient,
        "patient_picker": review.needs_patient_pick,
        "sign": signing_context(
            ctx,
            principal,
            app_id=client.row.app_id,
            client_id_hash="0x" + client_id_hash(client.get_client_id()).hex(),
            patient=review.patient,
        ),
    }


def decide(
    review: LaunchRequest, principal: Principal, body: dict[str, Any], issuer: str
) -> Approval:
    """The approval from the user's answer: ``scopes`` (a subset to approve; default all)
    and, for a member on a stand-alone launch, ``patient``."""
    approved = body.get("scopes")
    try:
        chosen = review.allowed if approved is None else sc.parse_all(approved)
    except (ScopeSyntaxError, TypeError) as exc:
        raise InvalidRequestError(f"approved scopes: {exc}") from exc
    final = sc.covered(chosen, review.allowed)
    patient = review.patient
    if review.needs_patient_pick:
        picked = body.get("patient")
        try:
            patient = to_checksum_address(str(picked))
        except Exception as exc:
            raise InvalidRequestError("pick the patient: 'patient' must be an address") from exc
    if patient is None and any(s.context == "patient" for s in final):
        raise InvalidRequestError("patient scopes need a patient in context")
    kind = "Practitioner" if principal.is_member else "Patient"
    user = SmartUser(principal.address, patient, f"{issuer}/fhir/{kind}/{principal.address}")
    return Approval(user=user, scope=sc.to_text(final))


def create_launch(
    ctx: AppContext,
    db: Session,
    principal: Principal,
    client: Client | None,
    patient: str,
    *,
    app_id: bytes | None = None,
) -> str:
    """An EHR launch context (opaque id, 5 minutes) on ``patient`` for ``client``, or for any
    registered client of the app ``app_id`` (the page launches the app; the app registers
    itself and names its own client)."""
    refusal = launch_refusal(ctx, client, principal.address, app_id=app_id)
    if refusal:
        raise LaunchRefusedError(refusal)
    if not principal.is_member and patient != principal.address:
        raise LaunchRefusedError("a patient launches apps on their own chart only")
    launch = secrets.token_urlsafe(24)
    db.add(
        SmartLaunch(
            launch_hash=digest(launch),
            client_id=client.get_client_id() if client is not None else "",
            app_id=None if client is not None or app_id is None else "0x" + app_id.hex(),
            user=principal.address,
            patient=patient,
            created_at=now(),
            expires_at=now() + LAUNCH_SECONDS,
        )
    )
    return launch


__all__ = ["create_launch", "decide", "describe", "launch_refusal", "review"]
