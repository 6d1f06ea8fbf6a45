"""authlib's authorisation server bound to the index: the code grant with PKCE (S256 only) and
OpenID Connect, the refresh grant (rotating), revocation (RFC 7009) and introspection
(RFC 7662). One :class:`SmartServer` is built per request around that request's database
session (building it costs microseconds; sharing one across threads would share a session).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidScopeError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy.orm import Session

from crypto.signing import client_id_hash
from ledger_api.context import AppContext
from ledger_api.smart import scopes as sc
from ledger_api.smart.errors import ScopeSyntaxError
from ledger_api.smart.oidc import SmartOpenIDCode
from ledger_api.smart.store import (
    Approval,
    Client,
    Code,
    SmartUser,
    Token,
    checksum,
    client_row,
    digest,
    log_event,
    now,
    revoke_where,
    token_by,
)
from storage.models import SmartCode, SmartToken

CODE_SECONDS = 120
ACCESS_SECONDS = 3600
CLIENT_AUTH = ["client_secret_basic", "none"]


@dataclass(frozen=True)
class OAuthResult:
    """authlib's ``(status, body, headers)``, for the route to turn into a response."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return dict(self.headers).get("Location")


class S256Only(CodeChallenge):
    """PKCE required, S256 only: ``plain`` (and a missing method, which RFC 7636 reads as
    ``plain``) is refused at the authorisation endpoint."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (authlib reads a list)
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        if not grant.request.payload.data.get("code_challenge_method"):
            from authlib.oauth2.rfc6749.errors import InvalidRequestError

            raise InvalidRequestError("code_challenge_method=S256 is required")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH
    server: SmartServer

    def save_authorization_code(self, code: str, request: Any) -> None:
        approval: Approval = request.user
        data = request.payload.data
        self.server.db.add(
            SmartCode(
                code_hash=digest(code),
                client_id=request.client.get_client_id(),
                user=approval.user.address,
                patient=approval.user.patient,
                redirect_uri=request.payload.redirect_uri or request.client.redirect_uris[0],
                scope=approval.scope,
                code_challenge=data["code_challenge"],
                code_challenge_method=data.get("code_challenge_method") or "S256",
                nonce=data.get("nonce"),
                auth_time=now(),
                expires_at=now() + CODE_SECONDS,
                authorization_tx=approval.authorization_tx,
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        row = self.server.db.get(SmartCode, digest(code))
        if row is None or row.client_id != client.get_client_id():
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice was stolen; revoke what it gave
            revoke_where(self.server.db, SmartToken.code_hash == row.code_hash)
            log_event(self.server.db, "code_reused", row.client_id, user=row.user)
            return None
        if row.expires_at <= now():
            return None
        return Code(row)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        authorization_code.row.used_at = now()

    def authenticate_user(self, authorization_code: Code) -> SmartUser:
        row = authorization_code.row
        return self.server.smart_user(checksum(row.user) or "", checksum(row.patient))


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: SmartServer

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token = token_by(self.server.db, refresh_token, "refresh_token")
        if token is None or token.row.refresh_hash != digest(refresh_token):
            return None
        if token.row.revoked:
            return None
        return token

    def authenticate_user(self, refresh_token: Token) -> SmartUser:
        row = refresh_token.row
        client = self.request.client
        # uninstalls, suspensions and retirements take effect at the next refresh
        self.server.check_still_launchable(client, checksum(row.user) or "")
        return self.server.smart_user(checksum(row.user) or "", checksum(row.patient))

    def revoke_old_credential(self, refresh_token: Token) -> None:
        refresh_token.row.revoked = True
        refresh_token.row.revoked_at = now()


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH
    server: SmartServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return token_by(self.server.db, token_string, token_type_hint)

    def revoke_token(self, token: Token, request: Any) -> None:
        token.row.revoked = True
        token.row.revoked_at = now()
        log_event(self.server.db, "token_revoked", token.row.client_id, user=token.row.user)


def introspection_payload(token: Token) -> dict[str, Any]:
    row = token.row
    payload: dict[str, Any] = {
        "active": True,
        "client_id": row.client_id,
        "scope": row.scope,
        "sub": checksum(row.user),
        "token_type": "Bearer",
        "iat": row.issued_at,
        "exp": row.expires_at,
    }
    if row.patient:
        payload["patient"] = checksum(row.patient)
    if token.client_row is not None:  # what the page signs an app's reads with
        payload["app_id"] = token.client_row.app_id
        payload["client_id_hash"] = "0x" + client_id_hash(row.client_id).hex()
    if row.authorization_tx:
        payload["authorization_tx"] = row.authorization_tx
    return payload


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH
    server: SmartServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return token_by(self.server.db, token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request: Any) -> bool:
        return token.row.client_id == client.get_client_id()

    def introspect_token(self, token: Token) -> dict[str, Any]:
        return introspection_payload(token)


class SmartServer(AuthorizationServer):
    """The authorisation server of one request (``db`` is that request's session)."""

    def __init__(self, *, ctx: AppContext, db: Session, issuer: str, data_dir: Path) -> None:
        super().__init__()
        self.ctx = ctx
        self.db = db
        self.issuer = issuer
        self.register_grant(CodeGrant, [S256Only(required=True), SmartOpenIDCode(data_dir, issuer)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # -- authlib hooks --------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        row = client_row(self.db, client_id)
        return Client(row) if row is not None else None

    def validate_requested_scope(self, scope: str | None) -> None:
        try:
            sc.parse_all(scope)
        except ScopeSyntaxError as exc:
            raise InvalidScopeError(str(exc)) from exc

    def generate_token(
        self,
        grant_type: str,
        client: Client,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """A bearer token; a refresh token only with ``offline_access``/``online_access``."""
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": generate_token(43),
            "expires_in": ACCESS_SECONDS,
            "scope": scope or "",
        }
        if sc.has(scope or "", "offline_access") or sc.has(scope or "", "online_access"):
            token["refresh_token"] = generate_token(48)
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        user: SmartUser = request.user
        code = request.authorization_code
        refreshed = getattr(request, "refresh_token", None)
        # every token traces back to the user's on-chain authorisation (refreshes too)
        if code is not None:
            authorization_tx = code.row.authorization_tx
        elif isinstance(refreshed, Token):
            authorization_tx = refreshed.row.authorization_tx
        else:
            authorization_tx = None
        issued = now()
        self.db.add(
            SmartToken(
                access_hash=digest(token["access_token"]),
                refresh_hash=digest(token["refresh_token"]) if "refresh_token" in token else None,
                client_id=request.client.get_client_id(),
                user=user.address,
                patient=user.patient,
                scope=token["scope"],
                code_hash=code.row.code_hash if code is not None else None,
                issued_at=issued,
                expires_at=issued + token["expires_in"],
                authorization_tx=authorization_tx,
            )
        )
        kind = "token_issued" if code is not None else "token_refreshed"
        log_event(
            self.db,
            kind,
            request.client.get_client_id(),
            user=user.address,
            patient=user.patient,
            scope=token["scope"],
        )
        if user.patient:  # SMART launch context in the token response
            token["patient"] = user.patient
            token["need_patient_banner"] = True

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # the adapter builds it (ledger_api.smart.adapter)

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResult:
        return OAuthResult(status, body, list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # -- SMART specifics ------------------------------------------------------------------

    def smart_user(self, address: str, patient: str | None) -> SmartUser:
        from ledger_api.services import auth as auth_service

        principal = auth_service.principal_for(ctx=self.ctx, address=address)
        kind = "Practitioner" if principal.is_member else "Patient"
        return SmartUser(address, patient, f"{self.issuer}/fhir/{kind}/{address}")

    def check_still_launchable(self, client: Client, address: str) -> None:
        from ledger_api.smart.consent import launch_refusal

        refusal = launch_refusal(self.ctx, client, address)
        if refusal:
            raise InvalidGrantError(refusal)


def revoke_connection(
    db: Session, *, patient: str, client_ids: list[str], tx_hash: str | None = None
) -> int:
    """Revoke every token the clients ``client_ids`` (one app's) hold for ``patient`` and
    every unused code; ``tx_hash``: the patient's revocation on chain."""
    count = revoke_where(db, SmartToken.patient == patient, SmartToken.client_id.in_(client_ids))
    db.execute(
        sa.update(SmartCode)
        .where(
            SmartCode.patient == patient,
            SmartCode.client_id.in_(client_ids),
            SmartCode.used_at.is_(None),
        )
        .values(used_at=now())
    )
    for client_id in client_ids:
        log_event(
            db, "connection_revoked", client_id, user=patient, patient=patient, tx_hash=tx_hash
        )
    return count


__all__ = ["Approval", "OAuth2Error", "OAuthResult", "SmartServer", "revoke_connection"]
