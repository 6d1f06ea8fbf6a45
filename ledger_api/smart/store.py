"""The SMART server's rows seen as authlib's models (client, code, token) and the few queries
on them. Every secret is looked up by its SHA-256 (:func:`digest`), never stored in clear."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from ledger_api.smart import scopes as sc
from ledger_api.smart.errors import ScopeSyntaxError
from storage.models import SmartClient, SmartCode, SmartEvent, SmartToken

GRANT_TYPES = ("authorization_code", "refresh_token")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def checksum(address: str | None) -> str | None:
    """Addresses come back from the index in lower case; callers see them checksummed."""
    return to_checksum_address(address) if address else None


def now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class SmartUser:
    """Who a code or token acts for: the signed-in user and the patient in context."""

    address: str
    patient: str | None
    fhir_user: str


@dataclass(frozen=True)
class Approval:
    """What the user approved on the consent screen: authlib's ``grant_user``."""

    user: SmartUser
    scope: str
    # the user's AppAuthorization on chain (Marketplace.authorizeApp), once mined
    authorization_tx: str | None = None


class Client(ClientMixin):
    """A registered app version (:class:`SmartClient`) as authlib sees it."""

    def __init__(self, row: SmartClient) -> None:
        self.row = row
        self.redirect_uris: list[str] = json.loads(row.redirect_uris)
        self.scopes = sc.parse_all(row.scope)
        self.app_id = bytes.fromhex(row.app_id[2:])

    @property
    def client_id(self) -> str:
        return self.row.client_id

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes the registration covers; the rest are dropped (SMART lets a
        server grant less than asked; the token response says what was granted)."""
        try:
            requested = sc.parse_all(scope)
        except ScopeSyntaxError:
            return ""
        return sc.to_text(sc.covered(requested, self.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row.secret_hash
        return bool(stored) and hmac.compare_digest(stored, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


class Code(AuthorizationCodeMixin):
    def __init__(self, row: SmartCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge  # read by rfc7636.CodeChallenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class Token(TokenMixin):
    def __init__(self, row: SmartToken, client: SmartClient | None) -> None:
        self.row = row
        self.client_row = client

    def check_client(self, client: ClientMixin) -> bool:
        return client.get_client_id() == self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return self.row.expires_at - self.row.issued_at

    def is_expired(self) -> bool:
        return self.row.expires_at <= now()

    def is_revoked(self) -> bool:
        return self.row.revoked

    def get_user(self) -> str:
        return self.row.user

    def get_client(self) -> ClientMixin | None:
        return Client(self.client_row) if self.client_row else None


def client_row(db: Session, client_id: str | None) -> SmartClient | None:
    if not client_id or len(client_id) > 64:
        return None
    return db.get(SmartClient, client_id)


def token_by(db: Session, secret: str, hint: str | None = None) -> Token | None:
    """An access or refresh token by its value (``hint`` tried first)."""
    hashed = digest(secret)
    columns = [SmartToken.access_hash, SmartToken.refresh_hash]
    if hint == "refresh_token":
        columns.reverse()
    for column in columns:
        row = db.scalar(sa.select(SmartToken).where(column == hashed))
        if row is not None:
            return Token(row, db.get(SmartClient, row.client_id))
    return None


def revoke_where(db: Session, *conditions: sa.ColumnElement[bool]) -> int:
    """Revoke every live token matching ``conditions``; how many."""
    result = db.execute(
        sa.update(SmartToken)
        .where(SmartToken.revoked.is_(False), *conditions)
        .values(revoked=True, revoked_at=now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def log_event(
    db: Session,
    kind: str,
    client_id: str,
    *,
    user: str | None = None,
    patient: str | None = None,
    scope: str | None = None,
    tx_hash: str | None = None,
) -> None:
    db.add(
        SmartEvent(
            at=now(),
            kind=kind,
            client_id=client_id,
            user=user,
            patient=patient,
            scope=scope,
            tx_hash=tx_hash,
        )
    )
