"""drop authority epochs: the former central key authority's global epochs and membership
triggers (migration 0004), written by nothing since the API's central key went (issue 16:
epochs are per institution and live on chain, ``Consortium.authorityOf``)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("epoch_triggers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epoch_triggers_epoch_block_number"))
    op.drop_table("epoch_triggers")
    op.drop_table("authority_epochs")


def downgrade() -> None:
    # the tables come back empty, exactly as migration 0004 made them (nothing wrote them)
    path = Path(__file__).with_name("0004_authority_epochs.py")
    spec = importlib.util.spec_from_file_location("medledger_migration_0004", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path} to recreate its tables")
    migration_0004 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration_0004)
    migration_0004.upgrade()
