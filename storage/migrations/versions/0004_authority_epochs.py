"""authority epochs: the key authority's membership epochs (``AccessLog.EpochAdvanced``) and
the membership changes (member suspended, removed or updated; institution suspended) that
each advance handles

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authority_epochs",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.String(length=66), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", name=op.f("pk_authority_epochs")),
    )
    op.create_table(
        "epoch_triggers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=True),
        sa.Column("institution_id", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epoch_triggers")),
        sa.UniqueConstraint(
            "tx_hash", "log_index", name=op.f("uq_epoch_triggers_tx_hash_log_index")
        ),
    )
    with op.batch_alter_table("epoch_triggers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_epoch_triggers_epoch_block_number"),
            ["epoch", "block_number"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("epoch_triggers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epoch_triggers_epoch_block_number"))
    op.drop_table("epoch_triggers")
    op.drop_table("authority_epochs")
