"""audit by chunks of blocks: an index on the block of every table ``/audit/verify`` reads a
chunk at a time (and on the position of the last event applied to each state row), so that a
verification streaming over a long range reads each chunk's rows instead of scanning a table
per chunk

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → columns indexed one by one
INDEXES: dict[str, tuple[str, ...]] = {
    "records": ("block_number",),
    "consents": ("block_number",),
    "access_events": ("block_number",),
    "key_issuances": ("block_number",),
    "referrals": ("block_number", "updated_block"),
    "consultations": ("block_number", "updated_block"),
    "consultation_opinions": ("block_number",),
    "workflow_transitions": ("block_number",),
    "break_glass_events": ("block_number", "updated_block"),
}


def upgrade() -> None:
    for table, columns in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def downgrade() -> None:
    for table, columns in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
