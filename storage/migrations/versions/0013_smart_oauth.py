"""smart oauth: the SMART App Launch server's registered app clients, launch contexts,
authorisation codes, tokens (all secrets as SHA-256 only) and its audit trail of token issues

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "smart_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("app_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("launch_url", sa.Text(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_smart_clients")),
    )
    with op.batch_alter_table("smart_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_smart_clients_app_id_version"), ["app_id", "version"], unique=False
        )

    op.create_table(
        "smart_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=42), nullable=False),
        sa.Column("patient", sa.String(length=42), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=10), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("auth_time", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_smart_codes")),
    )
    with op.batch_alter_table("smart_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_smart_codes_client_id_patient"), ["client_id", "patient"], unique=False
        )

    op.create_table(
        "smart_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=42), nullable=True),
        sa.Column("patient", sa.String(length=42), nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smart_events")),
    )
    with op.batch_alter_table("smart_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_smart_events_client_id_at"), ["client_id", "at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_smart_events_patient_at"), ["patient", "at"], unique=False
        )

    op.create_table(
        "smart_launches",
        sa.Column("launch_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=42), nullable=False),
        sa.Column("patient", sa.String(length=42), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("launch_hash", name=op.f("pk_smart_launches")),
    )
    op.create_table(
        "smart_tokens",
        sa.Column("access_hash", sa.String(length=64), nullable=False),
        sa.Column("refresh_hash", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=42), nullable=False),
        sa.Column("patient", sa.String(length=42), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("access_hash", name=op.f("pk_smart_tokens")),
        sa.UniqueConstraint("refresh_hash", name=op.f("uq_smart_tokens_refresh_hash")),
    )
    with op.batch_alter_table("smart_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_smart_tokens_code_hash"), ["code_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_smart_tokens_patient_client_id"), ["patient", "client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_smart_tokens_user_client_id"), ["user", "client_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("smart_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smart_tokens_user_client_id"))
        batch_op.drop_index(batch_op.f("ix_smart_tokens_patient_client_id"))
        batch_op.drop_index(batch_op.f("ix_smart_tokens_code_hash"))

    op.drop_table("smart_tokens")
    op.drop_table("smart_launches")
    with op.batch_alter_table("smart_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smart_events_patient_at"))
        batch_op.drop_index(batch_op.f("ix_smart_events_client_id_at"))

    op.drop_table("smart_events")
    with op.batch_alter_table("smart_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smart_codes_client_id_patient"))

    op.drop_table("smart_codes")
    with op.batch_alter_table("smart_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smart_clients_app_id_version"))

    op.drop_table("smart_clients")
