"""Reads the user's page makes for a SMART app: the token checked again, attributed on chain.

The page sends the app's access token with each read it makes for the app
(``X-Read-App-Token``) and signs ``AppReadRequest`` — the ``ReadRequest`` plus the app's
listing id and the hash of its client id — instead of ``ReadRequest``. The API is the page's
second guard (the page already introspected the token and checked the scopes):

- a token that is unknown, expired, revoked, or not the signed-in user's is a precise 401 and
  nothing is written: nothing proves the user read anything for that app;
- a record outside the token's scopes (its FHIR type), of another patient than the token's,
  or of a patient who revoked the app on chain (``Marketplace.appRevokedAt``) is a denial
  logged on chain like any other (``AccessLogged`` + ``AppAccessLogged``), then 403;
- otherwise the read is decided as the user's own (consents, workflows, break-glass) and
  logged with the app's ids.

Query-constrained scopes (``patient/Observation.rs?category=vital-signs``) admit the resource
type here: the API cannot see inside an encrypted record, so the page, which decrypts,
applies the query before the app sees anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crypto.signing import client_id_hash
from ledger_api.http_errors import UnauthorizedError
from ledger_api.services.uploads import record_type_text
from ledger_api.smart import scopes as sc
from ledger_api.smart.errors import ScopeSyntaxError
from ledger_api.smart.store import Token, token_by

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ledger_api.context import AppContext
    from ledger_api.principal import Principal
    from storage.models import Record

APP_TOKEN_HEADER = "X-Read-App-Token"
MAX_TOKEN_CHARS = 200


@dataclass(frozen=True)
class AppRead:
    """The app a read is made for: its token, listing id and hashed client id."""

    token: Token
    app_id: bytes
    client_id_hash: bytes

    @property
    def patient(self) -> str | None:
        return self.token.row.patient


class AppTokenInactiveError(UnauthorizedError):
    """The app's token is unknown, expired, revoked or someone else's (401, nothing logged)."""

    code = "app_token_inactive"


def app_for_read(*, db: Session, principal: Principal, token_value: str) -> AppRead:
    """The app whose live token ``token_value`` the signed-in user holds the page for."""
    token = (
        token_by(db, token_value, "access_token") if len(token_value) <= MAX_TOKEN_CHARS else None
    )
    if token is None or token.row.access_hash is None or token.client_row is None:
        raise AppTokenInactiveError("the app's access token is unknown")
    if token.is_revoked() or token.is_expired():
        raise AppTokenInactiveError(
            "the app's access token is revoked or expired: the app must be authorised again",
            details={"client_id": token.row.client_id},
        )
    if token.row.user != principal.address.lower():
        raise AppTokenInactiveError(
            "the app's access token was issued to another user",
            details={"client_id": token.row.client_id},
        )
    client = token.client_row
    return AppRead(
        token=token,
        app_id=bytes.fromhex(client.app_id[2:]),
        client_id_hash=client_id_hash(client.client_id),
    )


def app_refusal(*, ctx: AppContext, app: AppRead, record: Record) -> str | None:
    """Why the app may not have ``record`` (``"scope"``, ``"patient"``, ``"revoked"``); None
    when its token allows it (the user's own right to read is decided after)."""
    try:
        granted = sc.parse_all(app.token.row.scope)
    except ScopeSyntaxError:
        return "scope"
    resource = record_type_text(record.record_type)
    readable = [
        s
        for s in granted
        if not s.special and "r" in s.permissions and s.resource in ("*", resource)
    ]
    if not readable:
        return "scope"
    patient_scoped = all(s.context == "patient" for s in readable)
    if patient_scoped and record.patient != (app.patient or "").lower():
        return "patient"
    if ctx.chain.marketplace.app_revoked_at(record.patient, app.app_id):
        return "revoked"
    return None


__all__ = [
    "APP_TOKEN_HEADER",
    "AppRead",
    "AppTokenInactiveError",
    "app_for_read",
    "app_refusal",
]
