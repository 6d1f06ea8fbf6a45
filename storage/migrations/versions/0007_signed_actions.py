"""signed actions: the author's signature of each pending registration (so the reconciler can
send it again), the reader's signed request kept with each access event, the read requests
already used (a replayed signature is refused), and the blocks a re-key replaced, retained for
the audit until their retention ends

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registration_signature", sa.String(132), nullable=True))
        batch_op.add_column(sa.Column("registration_deadline", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("part", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("justification", sa.String(66), nullable=True))
        batch_op.add_column(sa.Column("request_issued_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("request_nonce", sa.String(20), nullable=True))
        batch_op.add_column(sa.Column("reader_signature", sa.String(132), nullable=True))
    op.create_table(
        "read_requests",
        sa.Column("reader", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("part", sa.SmallInteger(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("reader", "nonce", name=op.f("pk_read_requests")),
    )
    with op.batch_alter_table("read_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_read_requests_issued_at"), ["issued_at"], unique=False)
    op.create_table(
        "retained_blocks",
        sa.Column("cid", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("retain_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cid", "record_id", "version", name=op.f("pk_retained_blocks")),
    )
    with op.batch_alter_table("retained_blocks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retained_blocks_retain_until"), ["retain_until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("retained_blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retained_blocks_retain_until"))
    op.drop_table("retained_blocks")
    with op.batch_alter_table("read_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_read_requests_issued_at"))
    op.drop_table("read_requests")
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        for name in ("reader_signature", "request_nonce", "request_issued_at"):
            batch_op.drop_column(name)
        batch_op.drop_column("justification")
        batch_op.drop_column("part")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("registration_deadline")
        batch_op.drop_column("registration_signature")
