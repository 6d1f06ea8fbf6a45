"""SMART App Launch 2.2 routes (``ledger_api.smart``): discovery, RFC 7591 registration of
Live apps, the consent step for the user's page, token / introspection / revocation, EHR
launch contexts, and a patient's connected apps.

OAuth endpoints answer in RFC 6749 form (``{"error": ..., "error_description": ...}``), not
the API's own error body, because OAuth client libraries parse that form.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from fastapi import APIRouter, Body, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from crypto.addresses import to_checksum_address
from ledger_api.deps import ContextDep, DbDep, OptionalPrincipalDep, PrincipalDep
from ledger_api.http_errors import UnauthorizedError
from ledger_api.routes.error_docs import ErrorBody
from ledger_api.services import auth as auth_service
from ledger_api.smart import connections, consent, manifest, oidc
from ledger_api.smart.adapter import (
    NO_STORE,
    error_response,
    json_request,
    oauth_request,
    to_response,
)
from ledger_api.smart.authorization import (
    record_authorization,
    record_revocation,
    signing_context,
)
from ledger_api.smart.authorize_page import authorize_page, wants_page
from ledger_api.smart.errors import ManifestError
from ledger_api.smart.registration import Registration
from ledger_api.smart.server import SmartServer, introspection_payload, revoke_connection
from ledger_api.smart.store import token_by
from storage.models import SmartClient

router = APIRouter(tags=["smart"])


class SmartErrorOut(BaseModel):
    """An OAuth error (RFC 6749: ``error`` is the code) or, for a missing or bad session, the
    API's own error body (``error`` is ``{code, message, details}``)."""

    error: str | ErrorBody
    error_description: str | None = None
    redirect_to: str | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": SmartErrorOut, "description": "RFC 6749 error, or the API's"}
        for status in statuses
    }


CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-v2",
    "permission-v1",
    "permission-patient",
    "permission-user",
    "sso-openid-connect",
]
SCOPES_SUPPORTED = [
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.rs",
    "user/*.rs",
    "patient/Observation.rs",
    "patient/Condition.rs",
    "patient/MedicationRequest.rs",
]


def issuer(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def server_for(request: Request, ctx: Any, db: Any) -> SmartServer:
    return SmartServer(ctx=ctx, db=db, issuer=issuer(request), data_dir=ctx.settings.data_dir)


@router.get("/.well-known/smart-configuration")
def smart_configuration(request: Request) -> dict[str, Any]:
    """SMART App Launch 2.2 discovery."""
    base = issuer(request)
    return {
        "issuer": base,
        "jwks_uri": f"{base}/smart/jwks",
        "authorization_endpoint": f"{base}/smart/authorize",
        "token_endpoint": f"{base}/smart/token",
        "registration_endpoint": f"{base}/smart/register",
        "introspection_endpoint": f"{base}/smart/introspect",
        "revocation_endpoint": f"{base}/smart/revoke",
        "management_endpoint": f"{base}/smart/connections",
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "scopes_supported": SCOPES_SUPPORTED,
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    }


@router.get("/smart/jwks")
def smart_jwks(ctx: ContextDep) -> dict[str, Any]:
    """The public key of the id_tokens (RS256)."""
    return oidc.jwks(ctx.settings.data_dir)


@router.post("/smart/register", status_code=201, responses=errors(400, 413))
async def smart_register(request: Request, ctx: ContextDep, db: DbDep) -> Response:
    """RFC 7591: register a client for a Live marketplace app version."""
    try:
        req = await json_request(request)
    except OAuth2Error as error:
        return error_response(error)
    server = server_for(request, ctx, db)
    endpoint = Registration(server)

    def run() -> Response:
        try:
            status, body, headers = endpoint.create_registration_response(req)
        except OAuth2Error as error:
            return error_response(error)
        from ledger_api.smart.server import OAuthResult

        return to_response(OAuthResult(status, body, list(headers)))

    return await run_in_threadpool(run)


async def _consent_grant(request: Request, ctx: Any, db: Any, principal: Any) -> Any:
    server = server_for(request, ctx, db)
    req = await oauth_request(request)

    def validate() -> Any:
        grant = server.get_consent_grant(req, end_user=principal)
        return grant, consent.review(ctx, db, principal, grant)

    grant, review = await run_in_threadpool(validate)
    return server, req, grant, review


@router.get(
    "/smart/authorize",
    responses={
        **errors(400, 401, 403),
        200: {"content": {"text/html": {}}, "description": "JSON for the page; HTML for a frame"},
    },
)
async def smart_authorize_request(
    request: Request, ctx: ContextDep, db: DbDep, principal: OptionalPrincipalDep
) -> Response:
    """Validate an authorisation request for the signed-in user; what the consent screen
    shows (app, scopes in plain language zh-CN/en, launch context, what to sign).

    Loaded as a document without a session (the app's frame following OAuth), it answers a
    page that hands the request to the page that launched the app
    (:mod:`ledger_api.smart.authorize_page`)."""
    if principal is None:
        if wants_page(request.headers.get("accept", ""), request.headers.get("authorization")):
            return authorize_page()
        raise UnauthorizedError("sign in first: Authorization: Bearer <token>")
    try:
        _, _, _, review = await _consent_grant(request, ctx, db, principal)
    except OAuth2Error as error:
        return error_response(error)
    return JSONResponse(consent.describe(review, ctx, principal), headers=NO_STORE)


@router.post("/smart/authorize", responses=errors(400, 401, 403, 409, 422, 503))
async def smart_authorize(
    request: Request,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    decision: dict[str, Any] = Body(default_factory=dict),  # noqa: B008
) -> Response:
    """The user's decision: ``{"scopes": [...], "patient": "0x…", "authorization": {nonce,
    deadline, signature}}`` or ``{"deny": true}``. An approval is the user's signed
    ``AppAuthorization`` of exactly the granted scopes, put on chain
    (``Marketplace.authorizeApp``) before the code is issued; answers ``{"redirect_to":
    <redirect URI with code and state>, "authorization_tx"}`` for the page to follow."""
    try:
        server, req, grant, review = await _consent_grant(request, ctx, db, principal)

        def issue() -> tuple[Any, str | None]:
            if decision.get("deny"):
                denied = server.create_authorization_response(req, grant_user=None, grant=grant)
                return denied, None
            approval = consent.decide(review, principal, decision, issuer(request))
            client = review.client
            tx = record_authorization(
                ctx=ctx,
                principal=principal,
                patient=approval.user.patient,
                app_id=client.app_id,
                client_id=client.get_client_id(),
                scope=approval.scope,
                signed=decision.get("authorization"),
            )
            approval = dataclasses.replace(approval, authorization_tx=tx)
            result = server.create_authorization_response(req, grant_user=approval, grant=grant)
            return result, tx

        result, tx = await run_in_threadpool(issue)
    except OAuth2Error as error:
        return error_response(error)
    body: dict[str, Any] = {"redirect_to": result.location}
    if tx is not None:
        body["authorization_tx"] = tx
    if result.status != 302:
        return to_response(result)
    return JSONResponse(body, headers=NO_STORE)


@router.post("/smart/token", responses=errors(400, 401))
async def smart_token(request: Request, ctx: ContextDep, db: DbDep) -> Response:
    """Token endpoint: authorisation code (PKCE S256) and refresh token grants."""
    req = await oauth_request(request)
    server = server_for(request, ctx, db)
    return to_response(await run_in_threadpool(server.create_token_response, req))


@router.post("/smart/revoke", responses=errors(400, 401))
async def smart_revoke(request: Request, ctx: ContextDep, db: DbDep) -> Response:
    """RFC 7009 revocation by the client that holds the token."""
    req = await oauth_request(request)
    server = server_for(request, ctx, db)
    result = await run_in_threadpool(server.create_endpoint_response, "revocation", req)
    return to_response(result)


def _session_principal(request: Request, ctx: Any, db: Any) -> Any:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    address = auth_service.session_address(db=db, token=token.strip())
    db.rollback()
    return auth_service.principal_for(ctx=ctx, address=address)


@router.post("/smart/introspect", responses=errors(400, 401))
async def smart_introspect(request: Request, ctx: ContextDep, db: DbDep) -> Response:
    """RFC 7662 introspection, by the client holding the token (client authentication), or
    by the user's page with the user's session (``Authorization: Bearer <session>``): the
    page enforces a token's scopes before it reads anything for the app."""
    req = await oauth_request(request)
    principal = await run_in_threadpool(_session_principal, request, ctx, db)
    if principal is None:
        server = server_for(request, ctx, db)
        result = await run_in_threadpool(server.create_endpoint_response, "introspection", req)
        return to_response(result)
    token_value = req.form.get("token")
    if not token_value:
        return error_response(InvalidRequestError("token is required"))
    token = await run_in_threadpool(token_by, db, token_value, req.form.get("token_type_hint"))
    if (
        token is None
        or token.is_revoked()
        or token.is_expired()
        or principal.address.lower() not in (token.row.user, token.row.patient)
    ):
        return JSONResponse({"active": False}, headers=NO_STORE)
    return JSONResponse(introspection_payload(token), headers=NO_STORE)


@router.post("/smart/launch", responses=errors(400, 401, 403, 422))
def smart_launch(
    request: Request,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    body: dict[str, Any] = Body(...),  # noqa: B008
) -> Response:
    """An EHR launch context for ``{"app_id", "patient"}`` (or ``{"client_id", "patient"}``:
    the workstation's open chart, or the patient's own in the wallet); answers the opaque
    ``launch`` id and the app's launch URL with ``iss`` and ``launch``. Launched by app, any
    client the app registered may take the context (the app names its own client)."""
    server = server_for(request, ctx, db)
    client = None
    app_id: bytes | None = None
    if body.get("app_id") is not None:
        app_id = _app_id(str(body.get("app_id")))
        if app_id is None:
            return error_response(InvalidRequestError("app_id must be 0x and 64 hex digits"))
    else:
        client = server.query_client(str(body.get("client_id") or ""))
        if client is None:
            return error_response(InvalidRequestError("unknown client_id (or give app_id)"))
    try:
        patient = to_checksum_address(str(body.get("patient")))
    except Exception:
        return error_response(InvalidRequestError("patient must be an address"))
    try:
        launch = consent.create_launch(ctx, db, principal, client, patient, app_id=app_id)
        launch_url = client.row.launch_url if client is not None else _live_launch_url(ctx, app_id)
    except OAuth2Error as error:
        return error_response(error)
    except ManifestError as error:
        return error_response(InvalidRequestError(f"the app's manifest: {error}"))
    url = None
    if launch_url:
        sep = "&" if "?" in launch_url else "?"
        url = launch_url + sep + urlencode({"iss": issuer(request), "launch": launch})
    return JSONResponse({"launch": launch, "launch_url": url}, headers=NO_STORE)


def _app_id(text: str) -> bytes | None:
    if len(text) != 66 or text[:2] != "0x":
        return None
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        return None


def _live_launch_url(ctx: Any, app_id: bytes | None) -> str | None:
    """The launch URL of the app's Live version, from its manifest (verified by digest)."""
    assert app_id is not None
    market = ctx.chain.marketplace
    version = market.live_version_of(app_id)
    return manifest.load(market, ctx.store, app_id, version).launch_url


@router.get("/smart/connections", responses=errors(401))
def smart_connections(ctx: ContextDep, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """The apps connected to the caller's chart: per app, its clients, the scopes granted, the
    authorisations on chain (who, which transaction), the reads made for it, and whether the
    patient revoked it on chain; ``sign``: what the page signs a revocation with."""
    return {
        "connections": connections.list_connections(ctx=ctx, db=db, patient=principal.address),
        "sign": signing_context(ctx, principal),
    }


@router.post("/smart/apps/{app_id}/revoke", responses=errors(401, 403, 409, 422, 503))
def smart_revoke_app(
    app_id: Annotated[str, Path(min_length=66, max_length=66, pattern="^0x[0-9a-fA-F]{64}$")],
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    body: dict[str, Any] = Body(...),  # noqa: B008
) -> dict[str, Any]:
    """The patient revokes an app, on chain (their signed ``AppRevocation``): at once every
    token and unused code of the app's clients for their chart is revoked, nobody else can
    authorise it for them, and every read for it is refused (``app_revoked``)."""
    raw = bytes.fromhex(app_id[2:])
    tx = record_revocation(ctx=ctx, principal=principal, app_id=raw, signed=body)
    client_ids = list(
        db.scalars(sa.select(SmartClient.client_id).where(SmartClient.app_id == app_id.lower()))
    )
    revoked = revoke_connection(db, patient=principal.address, client_ids=client_ids, tx_hash=tx)
    db.commit()
    return {"revoked_tokens": revoked, "tx_hash": tx}


__all__ = ["UnauthorizedError", "router"]
