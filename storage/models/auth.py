"""Sign-In with Ethereum bookkeeping: single-use nonces and session tokens.

Only a hash of each session token is stored, so a leaked database does not leak live
sessions. A nonce is consumed by setting ``used_at`` in the same statement that checks it is
unused (``UPDATE … WHERE used_at IS NULL``), which is what makes it single-use under
concurrency on both backends.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.types import Address, Bytes32, UtcDateTime, utcnow


class SiweNonce(Base):
    """A nonce handed out for one SIWE message."""

    __tablename__ = "siwe_nonces"
    __table_args__ = (sa.Index(None, "expires_at"),)

    nonce: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_by: Mapped[str | None] = mapped_column(Address)


class ApiSession(Base):
    """A session opened by a verified SIWE message (``token_hash`` = sha-256 of the token)."""

    __tablename__ = "sessions"
    __table_args__ = (sa.Index(None, "address", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    address: Mapped[str] = mapped_column(Address)
    chain_id: Mapped[int] = mapped_column(sa.BigInteger)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
