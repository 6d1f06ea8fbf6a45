"""The app marketplace (``Marketplace`` on chain, issue 21), mirrored for listing and search.

Why mostly append-only: votes, status changes, installs and ratings are each one row per
event, keyed by ``(tx_hash, log_index)``, so replaying a range inserts nothing twice and a
chain rewind deletes exactly the rows of vanished events (every table here has a
``block_number``). The current state a page shows (a version's status, whether an institution
has an app installed, a rating average) is derived from these rows; ``marketplace_versions``
keeps a ``status`` column for filtering, recomputed from the event log after a rewind
(:func:`ledger_api.indexer.marketplace.recompute`).

Manifests (the JSON documents the on-chain digests name) are uploaded through the API and
kept in ``marketplace_manifests`` (not derived from events: a rewind keeps them); a version
shows its manifest only when the document's digest equals the one on chain.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.types import Address, Bytes32, UtcDateTime, utcnow

VERSION_STATUSES = ("in_review", "live", "rejected", "suspended", "retired")


class MarketplaceVendor(Base):
    """An account the consortium admin enrolled (or removed) as a vendor."""

    __tablename__ = "marketplace_vendors"

    vendor: Mapped[str] = mapped_column(Address, primary_key=True)
    enrolled: Mapped[bool] = mapped_column(sa.Boolean)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)


class MarketplaceAdministrator(Base):
    """The holder of one administrator role (1 platform provider, 2 regulator, 3 consortium
    authority); ``account`` NULL when vacated."""

    __tablename__ = "marketplace_administrators"

    role: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    account: Mapped[str | None] = mapped_column(Address)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)


class MarketplaceApp(Base):
    """An app id, claimed by its vendor with the first submission."""

    __tablename__ = "marketplace_apps"

    app_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    vendor: Mapped[str] = mapped_column(Address, index=True)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger, index=True)


class MarketplaceVersion(Base):
    """One submitted version; the manifest columns are filled only from a document whose
    digest matches ``manifest_digest`` (``digest_ok`` True), never trusted otherwise."""

    __tablename__ = "marketplace_versions"
    __table_args__ = (sa.Index(None, "status", "app_id"),)

    app_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    vendor: Mapped[str] = mapped_column(Address)
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    manifest_digest: Mapped[str] = mapped_column(Bytes32)
    manifest_uri: Mapped[str] = mapped_column(sa.Text)
    manifest_cid: Mapped[str | None] = mapped_column(sa.String(128))
    digest_ok: Mapped[bool | None] = mapped_column(sa.Boolean)
    name: Mapped[str | None] = mapped_column(sa.Text)
    app_type: Mapped[str | None] = mapped_column(sa.String(64))
    description: Mapped[str | None] = mapped_column(sa.Text)
    version_label: Mapped[str | None] = mapped_column(sa.String(64))
    release_date: Mapped[str | None] = mapped_column(sa.String(32))
    vendor_name: Mapped[str | None] = mapped_column(sa.Text)
    submitted_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(sa.Integer)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)


class MarketplaceStatusEvent(Base):
    """A version's status change (submitted, listed, rejected, suspended, reinstated,
    retired): the log a version's ``status`` is derived from."""

    __tablename__ = "marketplace_status_events"
    __table_args__ = (sa.Index(None, "app_id", "version"),)

    tx_hash: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    log_index: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    app_id: Mapped[str] = mapped_column(Bytes32)
    version: Mapped[int] = mapped_column(sa.BigInteger)
    event: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str | None] = mapped_column(Address)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    block_number: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    block_time: Mapped[int | None] = mapped_column(sa.BigInteger)


class MarketplaceVote(Base):
    """One administrator role's signed vote on a version."""

    __tablename__ = "marketplace_votes"
    __table_args__ = (sa.Index(None, "app_id", "version"),)

    tx_hash: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    log_index: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    app_id: Mapped[str] = mapped_column(Bytes32)
    version: Mapped[int] = mapped_column(sa.BigInteger)
    role: Mapped[int] = mapped_column(sa.SmallInteger)
    account: Mapped[str] = mapped_column(Address)
    approve: Mapped[bool] = mapped_column(sa.Boolean)
    reason: Mapped[str] = mapped_column(sa.Text)
    block_number: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    block_time: Mapped[int | None] = mapped_column(sa.BigInteger)


class MarketplaceInstall(Base):
    """An install (``installed`` True, with the Live version then) or uninstall of an app at
    an institution; the newest row per (institution, app) is the current state."""

    __tablename__ = "marketplace_installs"
    __table_args__ = (sa.Index(None, "institution_id", "app_id"), sa.Index(None, "app_id"))

    tx_hash: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    log_index: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    institution_id: Mapped[int] = mapped_column(sa.BigInteger)
    app_id: Mapped[str] = mapped_column(Bytes32)
    version: Mapped[int | None] = mapped_column(sa.BigInteger)
    installed: Mapped[bool] = mapped_column(sa.Boolean)
    actor: Mapped[str] = mapped_column(Address)
    block_number: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    block_time: Mapped[int | None] = mapped_column(sa.BigInteger)


class MarketplaceRating(Base):
    """An institution's rating (1-5) of a listed version (one per institution and version)."""

    __tablename__ = "marketplace_ratings"
    __table_args__ = (sa.UniqueConstraint("app_id", "version", "institution_id"),)

    tx_hash: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    log_index: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    app_id: Mapped[str] = mapped_column(Bytes32)
    version: Mapped[int] = mapped_column(sa.BigInteger)
    institution_id: Mapped[int] = mapped_column(sa.BigInteger)
    score: Mapped[int] = mapped_column(sa.SmallInteger)
    actor: Mapped[str] = mapped_column(Address)
    block_number: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    block_time: Mapped[int | None] = mapped_column(sa.BigInteger)


class MarketplaceManifest(Base):
    """A manifest document a vendor uploaded: canonical JSON, its CID in the block store and
    its SHA-256 (:func:`crypto.signing.manifest_digest`). Not derived from the chain."""

    __tablename__ = "marketplace_manifests"

    cid: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(Bytes32, index=True)
    document: Mapped[str] = mapped_column(sa.Text)
    uploader: Mapped[str] = mapped_column(Address)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
