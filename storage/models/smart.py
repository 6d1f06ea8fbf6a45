"""SMART App Launch state (``ledger_api.smart``): registered app clients, launch contexts,
authorisation codes, tokens, and the audit trail of what was issued to which app.

Secrets are stored as SHA-256 hex only (client secrets, launch ids, codes, access and refresh
tokens), as sessions are (:mod:`storage.models.auth`): a leaked index leaks no live
credential. A code is marked used rather than deleted, so that a second use is recognised
(and the tokens issued from it revoked, RFC 6749 §4.1.2). Times are Unix seconds.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.types import Address


class SmartClient(Base):
    """An app version registered by RFC 7591, bound to its Live listing on chain."""

    __tablename__ = "smart_clients"
    __table_args__ = (sa.Index(None, "app_id", "version"),)

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    secret_hash: Mapped[str | None] = mapped_column(sa.String(64))
    app_id: Mapped[str] = mapped_column(sa.String(66))  # 0x + 64 hex, lower case
    version: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.Text)
    auth_method: Mapped[str] = mapped_column(sa.String(32))  # none | client_secret_basic
    redirect_uris: Mapped[str] = mapped_column(sa.Text)  # JSON list
    launch_url: Mapped[str | None] = mapped_column(sa.Text)
    scope: Mapped[str] = mapped_column(sa.Text)  # canonical, space separated
    created_at: Mapped[int] = mapped_column(sa.BigInteger)


class SmartLaunch(Base):
    """An EHR launch context made by the user's page: opaque id → patient, user, app."""

    __tablename__ = "smart_launches"

    launch_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    user: Mapped[str] = mapped_column(Address)
    patient: Mapped[str] = mapped_column(Address)
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
    expires_at: Mapped[int] = mapped_column(sa.BigInteger)
    # a launch made for the app (any of its registered clients may use it); client_id is ""
    app_id: Mapped[str | None] = mapped_column(sa.String(66))


class SmartCode(Base):
    """An authorisation code (single use, short lived, PKCE-bound)."""

    __tablename__ = "smart_codes"
    __table_args__ = (sa.Index(None, "client_id", "patient"),)

    code_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    user: Mapped[str] = mapped_column(Address)
    patient: Mapped[str | None] = mapped_column(Address)
    redirect_uri: Mapped[str] = mapped_column(sa.Text)
    scope: Mapped[str] = mapped_column(sa.Text)
    code_challenge: Mapped[str] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str] = mapped_column(sa.String(10))
    nonce: Mapped[str | None] = mapped_column(sa.String(255))
    auth_time: Mapped[int] = mapped_column(sa.BigInteger)
    expires_at: Mapped[int] = mapped_column(sa.BigInteger)
    used_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    # the user's signed Marketplace.authorizeApp transaction this code comes from
    authorization_tx: Mapped[str | None] = mapped_column(sa.String(66))


class SmartToken(Base):
    """An access token and its refresh token, as issued to one app for one user."""

    __tablename__ = "smart_tokens"
    __table_args__ = (
        sa.Index(None, "patient", "client_id"),
        sa.Index(None, "user", "client_id"),
        sa.Index(None, "code_hash"),
    )

    access_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    refresh_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    user: Mapped[str] = mapped_column(Address)
    patient: Mapped[str | None] = mapped_column(Address)
    scope: Mapped[str] = mapped_column(sa.Text)
    code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    issued_at: Mapped[int] = mapped_column(sa.BigInteger)
    expires_at: Mapped[int] = mapped_column(sa.BigInteger)
    revoked: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    revoked_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    authorization_tx: Mapped[str | None] = mapped_column(sa.String(66))


class SmartEvent(Base):
    """The API's audit trail of the SMART server: registrations, token issues and refreshes,
    revocations. ``AccessLog`` on chain takes only signed reads with a ``uint8`` purpose, so a
    token issue (no record, nobody's signature) is logged here (``docs/marketplace.md``)."""

    __tablename__ = "smart_events"
    __table_args__ = (sa.Index(None, "client_id", "at"), sa.Index(None, "patient", "at"))

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(sa.BigInteger)
    kind: Mapped[str] = mapped_column(sa.String(32))
    client_id: Mapped[str] = mapped_column(sa.String(64))
    user: Mapped[str | None] = mapped_column(Address)
    patient: Mapped[str | None] = mapped_column(Address)
    scope: Mapped[str | None] = mapped_column(sa.Text)
    tx_hash: Mapped[str | None] = mapped_column(sa.String(66))
