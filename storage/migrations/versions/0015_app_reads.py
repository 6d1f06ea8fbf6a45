"""app reads: the app (listing id and hashed client id) an access event was made for, the
on-chain authorisation every SMART code and token comes from, and the launch contexts made for
an app rather than for one of its registered clients

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_id", sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column("client_id_hash", sa.String(length=66), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_access_events_app_id_block_number"),
            ["app_id", "block_number"],
            unique=False,
        )
    for table in ("smart_codes", "smart_tokens"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("authorization_tx", sa.String(length=66), nullable=True))
    with op.batch_alter_table("smart_launches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_id", sa.String(length=66), nullable=True))
    with op.batch_alter_table("smart_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tx_hash", sa.String(length=66), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("smart_events", schema=None) as batch_op:
        batch_op.drop_column("tx_hash")
    with op.batch_alter_table("smart_launches", schema=None) as batch_op:
        batch_op.drop_column("app_id")
    for table in ("smart_tokens", "smart_codes"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("authorization_tx")
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_events_app_id_block_number"))
        batch_op.drop_column("client_id_hash")
        batch_op.drop_column("app_id")
