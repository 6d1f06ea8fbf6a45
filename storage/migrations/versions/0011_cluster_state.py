"""several API nodes and self-healing after chain rollbacks: leases (one indexer at a time
on SQLite), the hash of every indexed block (rollback and reorg detection), and the journal of
relayed signed calls (re-sent when a rollback erased them)

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "indexed_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number", name=op.f("pk_indexed_blocks")),
    )
    op.create_table(
        "relayed_calls",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("relayer", sa.String(length=42), nullable=False),
        sa.Column("target", sa.String(length=42), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("gas", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relayed_calls")),
    )
    op.create_table(
        "unhealed",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("repair", sa.String(length=500), nullable=False),
        sa.Column("found_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_unhealed")),
    )
    with op.batch_alter_table("relayed_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_relayed_calls_state_sent_at"), ["state", "sent_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_relayed_calls_tx_hash"), ["tx_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("relayed_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relayed_calls_tx_hash"))
        batch_op.drop_index(batch_op.f("ix_relayed_calls_state_sent_at"))
    op.drop_table("unhealed")
    op.drop_table("relayed_calls")
    op.drop_table("indexed_blocks")
    op.drop_table("leases")
