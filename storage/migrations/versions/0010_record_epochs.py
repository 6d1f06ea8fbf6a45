"""record epochs: the lowest membership epoch each record's policy names, indexed with the
record's status and state, so the epoch floor ``GET /keys/public`` reports is one MIN over an
index range instead of a read of every active record's header

The column starts NULL for existing rows: the policy lives in the header block, which a
migration cannot read (the block store is the API's, not the database's). The epoch service
back-fills NULL rows from their headers the first time it needs the floor, once.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_records_status_state_epoch", ["status", "state", "epoch"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_status_state_epoch")
        batch_op.drop_column("epoch")
