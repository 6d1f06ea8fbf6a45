"""State several API processes share through the index: leases, block hashes, relayed calls.

- :class:`Lease` — who runs a once-per-cluster task (the indexer, the healer) on a database
  without advisory locks (SQLite); PostgreSQL uses ``pg_try_advisory_lock`` instead, which
  its server releases the moment the holder's connection dies.
- :class:`IndexedBlock` — the hash of every block the indexer applied, so a chain that rolled
  back or reorganised is noticed (the hash at an indexed height changed, or the head fell
  behind) and the index rewound to the common ancestor.
- :class:`RelayedCall` — the calldata of every signed action the API relayed (consents,
  access entries, workflow steps: the actor's signature is inside), kept until it is mined
  and final enough, so an action a rollback erased is sent again as is. Records are not
  journalled here: their row keeps the author's registration signature and their blocks
  stay pinned, which is all a re-registration needs.
- :class:`Unhealed` — what the healer could not put back (a signed deadline passed, a
  record slot that survived without its event): ``/audit/verify`` lists it with what would
  repair it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.types import Address, Bytes32

RELAYED_STATES = ("sent", "mined", "dropped")


class Lease(Base):
    """``name`` is held by ``holder`` until ``expires_at`` (Unix seconds, renewed by it)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(128))
    expires_at: Mapped[float] = mapped_column(sa.Float)


class IndexedBlock(Base):
    """The hash the indexer saw at ``number`` on ``chain_id``."""

    __tablename__ = "indexed_blocks"

    chain_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(Bytes32)


class RelayedCall(Base):
    """One relayed transaction's target and calldata, and where it stands on chain."""

    __tablename__ = "relayed_calls"
    __table_args__ = (sa.Index(None, "state", "sent_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tx_hash: Mapped[str] = mapped_column(Bytes32, index=True)
    relayer: Mapped[str] = mapped_column(Address)
    target: Mapped[str] = mapped_column(Address)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    gas: Mapped[int] = mapped_column(sa.BigInteger)
    sent_at: Mapped[float] = mapped_column(sa.Float)
    state: Mapped[str] = mapped_column(sa.String(16), default="sent")
    block_number: Mapped[int | None] = mapped_column(sa.BigInteger)
    sends: Mapped[int] = mapped_column(sa.Integer, default=1)
    detail: Mapped[str | None] = mapped_column(sa.String(300))


class Unhealed(Base):
    """Something acknowledged that a rollback erased and that could not be sent again."""

    __tablename__ = "unhealed"

    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(64))
    repair: Mapped[str] = mapped_column(sa.String(500))
    found_at: Mapped[float] = mapped_column(sa.Float)
