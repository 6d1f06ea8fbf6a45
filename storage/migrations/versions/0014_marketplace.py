"""marketplace: the app marketplace's index (issue 21): vendors, administrator roles, apps,
versions with their status-event log, votes, installs, ratings, and uploaded manifests

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketplace_administrators",
        sa.Column("role", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("account", sa.String(length=42), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_marketplace_administrators")),
    )
    with op.batch_alter_table("marketplace_administrators", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_administrators_block_number"), ["block_number"], unique=False
        )

    op.create_table(
        "marketplace_apps",
        sa.Column("app_id", sa.String(length=66), nullable=False),
        sa.Column("vendor", sa.String(length=42), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_marketplace_apps")),
    )
    with op.batch_alter_table("marketplace_apps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_apps_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_marketplace_apps_vendor"), ["vendor"], unique=False)

    op.create_table(
        "marketplace_installs",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("institution_id", sa.BigInteger(), nullable=False),
        sa.Column("app_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.Column("installed", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_marketplace_installs")),
    )
    with op.batch_alter_table("marketplace_installs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_installs_app_id"), ["app_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_installs_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_installs_institution_id_app_id"),
            ["institution_id", "app_id"],
            unique=False,
        )

    op.create_table(
        "marketplace_manifests",
        sa.Column("cid", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("uploader", sa.String(length=42), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cid", name=op.f("pk_marketplace_manifests")),
    )
    with op.batch_alter_table("marketplace_manifests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_manifests_digest"), ["digest"], unique=False
        )

    op.create_table(
        "marketplace_ratings",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("app_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("institution_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_marketplace_ratings")),
        sa.UniqueConstraint(
            "app_id",
            "version",
            "institution_id",
            name=op.f("uq_marketplace_ratings_app_id_version_institution_id"),
        ),
    )
    with op.batch_alter_table("marketplace_ratings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_ratings_block_number"), ["block_number"], unique=False
        )

    op.create_table(
        "marketplace_status_events",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("app_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_marketplace_status_events")),
    )
    with op.batch_alter_table("marketplace_status_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_status_events_app_id_version"),
            ["app_id", "version"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_status_events_block_number"), ["block_number"], unique=False
        )

    op.create_table(
        "marketplace_vendors",
        sa.Column("vendor", sa.String(length=42), nullable=False),
        sa.Column("enrolled", sa.Boolean(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("vendor", name=op.f("pk_marketplace_vendors")),
    )
    with op.batch_alter_table("marketplace_vendors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_vendors_block_number"), ["block_number"], unique=False
        )

    op.create_table(
        "marketplace_versions",
        sa.Column("app_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("vendor", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("manifest_digest", sa.String(length=66), nullable=False),
        sa.Column("manifest_uri", sa.Text(), nullable=False),
        sa.Column("manifest_cid", sa.String(length=128), nullable=True),
        sa.Column("digest_ok", sa.Boolean(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("app_type", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version_label", sa.String(length=64), nullable=True),
        sa.Column("release_date", sa.String(length=32), nullable=True),
        sa.Column("vendor_name", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "version", name=op.f("pk_marketplace_versions")),
    )
    with op.batch_alter_table("marketplace_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_versions_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_versions_status_app_id"), ["status", "app_id"], unique=False
        )

    op.create_table(
        "marketplace_votes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("app_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.SmallInteger(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("approve", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_marketplace_votes")),
    )
    with op.batch_alter_table("marketplace_votes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_votes_app_id_version"), ["app_id", "version"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketplace_votes_block_number"), ["block_number"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("marketplace_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_votes_block_number"))
        batch_op.drop_index(batch_op.f("ix_marketplace_votes_app_id_version"))

    op.drop_table("marketplace_votes")
    with op.batch_alter_table("marketplace_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_versions_status_app_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_versions_block_number"))

    op.drop_table("marketplace_versions")
    with op.batch_alter_table("marketplace_vendors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_vendors_block_number"))

    op.drop_table("marketplace_vendors")
    with op.batch_alter_table("marketplace_status_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_status_events_block_number"))
        batch_op.drop_index(batch_op.f("ix_marketplace_status_events_app_id_version"))

    op.drop_table("marketplace_status_events")
    with op.batch_alter_table("marketplace_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_ratings_block_number"))

    op.drop_table("marketplace_ratings")
    with op.batch_alter_table("marketplace_manifests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_manifests_digest"))

    op.drop_table("marketplace_manifests")
    with op.batch_alter_table("marketplace_installs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_installs_institution_id_app_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_installs_block_number"))
        batch_op.drop_index(batch_op.f("ix_marketplace_installs_app_id"))

    op.drop_table("marketplace_installs")
    with op.batch_alter_table("marketplace_apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_apps_vendor"))
        batch_op.drop_index(batch_op.f("ix_marketplace_apps_block_number"))

    op.drop_table("marketplace_apps")
    with op.batch_alter_table("marketplace_administrators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_administrators_block_number"))

    op.drop_table("marketplace_administrators")
