"""Rate-limit counters, kept in the index database so several API processes share them.

One row per (bucket, fixed window): ``bucket`` names the action, the scope and who
(``sign_in:ip:203.0.113.7``, ``key_issue:address:0xab…``), ``window_start`` the first second
of the window in Unix time. A hit is one ``INSERT … ON CONFLICT DO UPDATE SET hits = hits + n``
(atomic on SQLite and PostgreSQL), so concurrent processes never lose a count. Rows of past
windows are deleted as new ones are written.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class RateLimitHit(Base):
    """How many times ``bucket`` was hit in the window starting at ``window_start``."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (sa.Index(None, "window_start"),)

    bucket: Mapped[str] = mapped_column(sa.String(160), primary_key=True)
    window_start: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(sa.BigInteger, default=0)
