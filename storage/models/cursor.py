"""Where the event indexer stopped, per chain and contract.

The cursor row is written in the same transaction as the index rows of the range it covers,
so after a crash the index and the cursor agree and indexing resumes with no gap and no
duplicate.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.types import Address, UtcDateTime, utcnow


class IndexerCursor(Base):
    """The last block (and last log in it) fully applied for one contract on one chain."""

    __tablename__ = "indexer_cursors"

    chain_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    contract: Mapped[str] = mapped_column(Address, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    last_block: Mapped[int] = mapped_column(sa.BigInteger)
    last_log_index: Mapped[int] = mapped_column(sa.Integer, default=-1)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
