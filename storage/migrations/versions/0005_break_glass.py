"""break glass: emergency openings of one patient's records (``EmergencyAccess``), their
reason texts and their auditor reviews

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "break_glass_events",
        sa.Column("opening_id", sa.String(length=66), nullable=False),
        sa.Column("clinician", sa.String(length=42), nullable=False),
        sa.Column("patient", sa.String(length=42), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reason_hash", sa.String(length=66), nullable=False),
        sa.Column("co_signer", sa.String(length=42), nullable=True),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("justified", sa.Boolean(), nullable=True),
        sa.Column("reviewer", sa.String(length=42), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("review_note_hash", sa.String(length=66), nullable=True),
        sa.Column("reviewed_at", sa.BigInteger(), nullable=True),
        sa.Column("review_tx_hash", sa.String(length=66), nullable=True),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("opening_id", name=op.f("pk_break_glass_events")),
    )
    with op.batch_alter_table("break_glass_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_break_glass_events_clinician_opened_at"),
            ["clinician", "opened_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_break_glass_events_patient_opened_at"),
            ["patient", "opened_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_break_glass_events_reviewed_opened_at"),
            ["reviewed", "opened_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("break_glass_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_break_glass_events_reviewed_opened_at"))
        batch_op.drop_index(batch_op.f("ix_break_glass_events_patient_opened_at"))
        batch_op.drop_index(batch_op.f("ix_break_glass_events_clinician_opened_at"))
    op.drop_table("break_glass_events")
