"""The former central key authority's global membership epochs (tables of migration 0008).

Nothing writes these tables any more: the global epoch (``AccessLog.EpochAdvanced``, advanced by
the API's epoch watcher from the membership *triggers*) went with the API's central key in
issue 16. Epochs are per institution now and live on chain (``Consortium.authorityOf``,
``GET /keys/epochs``). The models stay until a migration drops the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.types import Address, Bytes32


class AuthorityEpoch(Base):
    """One ``EpochAdvanced``: from this block on, records are written with ``epoch``."""

    __tablename__ = "authority_epochs"

    epoch: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(Bytes32)
    reason_text: Mapped[str | None] = mapped_column(sa.Text)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    block_time: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    log_index: Mapped[int] = mapped_column(sa.Integer)


class EpochTrigger(Base):
    """A membership event that requires a new epoch; ``epoch`` is NULL until handled."""

    __tablename__ = "epoch_triggers"
    __table_args__ = (
        sa.UniqueConstraint("tx_hash", "log_index"),
        sa.Index(None, "epoch", "block_number"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    account: Mapped[str | None] = mapped_column(Address)
    institution_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    log_index: Mapped[int] = mapped_column(sa.Integer)
    epoch: Mapped[int | None] = mapped_column(sa.BigInteger)
