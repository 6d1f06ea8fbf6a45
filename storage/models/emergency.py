"""Break-glass emergency openings (``EmergencyAccess`` on chain) and their reviews.

One row per opening, keyed by its on-chain id. The chain holds only the keccak-256 of the
reason and of the review note; the texts live here (written by the API when it relays the
transaction; an opening indexed from the chain alone, e.g. by another API replica that has not
seen the request, has ``reason`` NULL until that API writes it). The review columns are filled
by ``BreakGlassReviewed``, guarded by the event's position like every other update.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.types import Address, Bytes32


class BreakGlassEvent(Base):
    """A clinician's emergency opening of one patient's records, and its review."""

    __tablename__ = "break_glass_events"
    __table_args__ = (
        sa.Index(None, "patient", "opened_at"),
        sa.Index(None, "clinician", "opened_at"),
        sa.Index(None, "reviewed", "opened_at"),
        sa.Index(None, "block_number"),  # the audit reads rows a chunk of blocks at a time
        sa.Index(None, "updated_block"),
    )

    opening_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    clinician: Mapped[str] = mapped_column(Address)
    patient: Mapped[str] = mapped_column(Address)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    reason_hash: Mapped[str] = mapped_column(Bytes32)
    co_signer: Mapped[str | None] = mapped_column(Address)
    opened_at: Mapped[int] = mapped_column(sa.BigInteger)
    expires_at: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    log_index: Mapped[int] = mapped_column(sa.Integer)
    reviewed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    justified: Mapped[bool | None] = mapped_column(sa.Boolean)
    reviewer: Mapped[str | None] = mapped_column(Address)
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    review_note_hash: Mapped[str | None] = mapped_column(Bytes32)
    reviewed_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    review_tx_hash: Mapped[str | None] = mapped_column(Bytes32)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)
