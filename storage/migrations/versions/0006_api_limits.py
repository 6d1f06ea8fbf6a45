"""api limits: rate-limit counters shared by every API process, the bytes each record took
in the store (for the self-authored storage quota), and the count of identical denials
coalesced into one access-log entry

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        sa.Column("bucket", sa.String(length=160), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_rate_limit_hits")),
    )
    op.create_index(
        op.f("ix_rate_limit_hits_window_start"), "rate_limit_hits", ["window_start"], unique=False
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeats", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("last_repeat_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.drop_column("last_repeat_at")
        batch_op.drop_column("repeats")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("stored_bytes")
    op.drop_index(op.f("ix_rate_limit_hits_window_start"), table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
