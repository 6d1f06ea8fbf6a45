"""``Marketplace`` events: vendors, administrator roles, submissions, votes, status changes,
installs and ratings (issue 21).

Idempotent like every handler: the per-event rows (status events, votes, installs, ratings)
are inserted with ``ON CONFLICT (tx_hash, log_index) DO NOTHING``; the rows with a current
state (vendors, administrators, a version's ``status``) are updated only by a newer event.
After a rewind, :func:`recompute` derives every version's status again from the status
events left, so a vanished listing or suspension does not linger.

A submission's manifest is attached here when the API already holds a document under the
URI's CID whose digest equals the on-chain one (:func:`manifest_columns`); a document that
does not match is recorded as such (``digest_ok`` False) and never shown as the version's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.sql import guarded_update, position, upsert, upsert_if_newer
from storage.models.marketplace import (
    MarketplaceAdministrator,
    MarketplaceApp,
    MarketplaceInstall,
    MarketplaceManifest,
    MarketplaceRating,
    MarketplaceStatusEvent,
    MarketplaceVendor,
    MarketplaceVersion,
    MarketplaceVote,
)
from storage.models.types import ZERO_ADDRESS

vendors_t = MarketplaceVendor.__table__
admins_t = MarketplaceAdministrator.__table__
apps_t = MarketplaceApp.__table__
versions_t = MarketplaceVersion.__table__
status_t = MarketplaceStatusEvent.__table__
votes_t = MarketplaceVote.__table__
installs_t = MarketplaceInstall.__table__
ratings_t = MarketplaceRating.__table__
manifests_t = MarketplaceManifest.__table__

Handler = Callable[[Connection, ChainEvent], None]


def manifest_cid(uri: str) -> str | None:
    """The CID of ``ipfs://<cid>`` (or a bare CID); None for anything else."""
    cid = uri.removeprefix("ipfs://").strip("/")
    if not cid or "/" in cid or len(cid) > 128 or not cid.isalnum():
        return None
    return cid


def manifest_columns(document: str | None, digest_ok: bool | None, cid: str | None) -> dict:
    """The version's manifest columns: filled from ``document`` only when it matched."""
    values: dict[str, Any] = {"manifest_cid": cid, "digest_ok": digest_ok}
    doc: dict[str, Any] = {}
    if digest_ok and document is not None:
        loaded = json.loads(document)
        doc = loaded if isinstance(loaded, dict) else {}

    def text(key: str, size: int | None = None) -> str | None:
        value = doc.get(key)
        if not isinstance(value, str):
            return None
        return value[:size] if size else value

    values.update(
        name=text("name"),
        app_type=text("type", 64),
        description=text("description"),
        version_label=text("version", 64),
        release_date=text("date", 32),
        vendor_name=text("vendor"),
    )
    return values


def _lookup_manifest(connection: Connection, uri: str, digest: str) -> dict[str, Any]:
    cid = manifest_cid(uri)
    if cid is None:
        return manifest_columns(None, None, None)
    row = connection.execute(
        sa.select(manifests_t.c.digest, manifests_t.c.document).where(manifests_t.c.cid == cid)
    ).first()
    if row is None:
        return manifest_columns(None, None, cid)
    return manifest_columns(row.document, row.digest == digest, cid)


def _insert_once(connection: Connection, table: sa.Table, values: dict[str, Any]) -> None:
    """Insert a per-event row unless it is there (any unique clash: a rating's
    ``(app, version, institution)`` too, so a range can never wedge the indexer)."""
    connection.execute(upsert(connection, table).values(**values).on_conflict_do_nothing())


def _status_event(
    connection: Connection, e: ChainEvent, status: str, *, actor: str | None, reason: str | None
) -> None:
    _insert_once(
        connection,
        status_t,
        {
            "tx_hash": e.tx_hash,
            "log_index": e.log_index,
            "app_id": e.args["appId"],
            "version": e.args["version"],
            "event": e.name,
            "status": status,
            "actor": actor,
            "reason": reason,
            "block_number": e.block_number,
            "block_time": e.block_time,
        },
    )


# --------------------------------------------------------------------------- roles


def vendor(enrolled: bool) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        values = {
            "vendor": e.args["vendor"],
            "enrolled": enrolled,
            "tx_hash": e.tx_hash,
            "block_number": e.block_number,
            **position(e),
        }
        connection.execute(
            upsert_if_newer(connection, vendors_t, key="vendor", values=values, event=e)
        )

    return handle


def administrator_set(connection: Connection, e: ChainEvent) -> None:
    account = e.args["account"]
    values = {
        "role": e.args["role"],
        "account": None if account == ZERO_ADDRESS else account,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **position(e),
    }
    connection.execute(upsert_if_newer(connection, admins_t, key="role", values=values, event=e))


# --------------------------------------------------------------------------- versions


def submitted(connection: Connection, e: ChainEvent) -> None:
    app_id, digest, uri = e.args["appId"], e.args["manifestDigest"], e.args["manifestUri"]
    stmt = upsert(connection, apps_t).values(
        app_id=app_id, vendor=e.args["vendor"], tx_hash=e.tx_hash, block_number=e.block_number
    )
    connection.execute(stmt.on_conflict_do_nothing(index_elements=["app_id"]))
    values = {
        "app_id": app_id,
        "version": e.args["version"],
        "vendor": e.args["vendor"],
        "status": "in_review",
        "reason": None,
        "manifest_digest": digest,
        "manifest_uri": uri,
        **_lookup_manifest(connection, uri, digest),
        "submitted_at": e.block_time,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        "log_index": e.log_index,
        **position(e),
    }
    stmt = upsert(connection, versions_t).values(**values)
    connection.execute(stmt.on_conflict_do_nothing(index_elements=["app_id", "version"]))
    _status_event(connection, e, "in_review", actor=e.args["vendor"], reason=None)


def status_change(status: str, *, actor: str | None = None, reason: str | None = None) -> Handler:
    """A handler moving the version to ``status``; ``actor``/``reason`` name event args."""

    def handle(connection: Connection, e: ChainEvent) -> None:
        who = e.args[actor] if actor else None
        why = e.args[reason] if reason else None
        _status_event(connection, e, status, actor=who, reason=why)
        where = sa.and_(
            versions_t.c.app_id == e.args["appId"], versions_t.c.version == e.args["version"]
        )
        guarded_update(connection, versions_t, where, e, {"status": status, "reason": why})

    return handle


def vote_cast(connection: Connection, e: ChainEvent) -> None:
    _insert_once(
        connection,
        votes_t,
        {
            "tx_hash": e.tx_hash,
            "log_index": e.log_index,
            "app_id": e.args["appId"],
            "version": e.args["version"],
            "role": e.args["role"],
            "account": e.args["voter"],
            "approve": e.args["approve"],
            "reason": e.args["reason"],
            "block_number": e.block_number,
            "block_time": e.block_time,
        },
    )


# --------------------------------------------------------------------------- institutions


def installation(installed: bool) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        _insert_once(
            connection,
            installs_t,
            {
                "tx_hash": e.tx_hash,
                "log_index": e.log_index,
                "institution_id": e.args["institutionId"],
                "app_id": e.args["appId"],
                "version": e.args["version"] if installed else None,
                "installed": installed,
                "actor": e.args["actor"],
                "block_number": e.block_number,
                "block_time": e.block_time,
            },
        )

    return handle


def rated(connection: Connection, e: ChainEvent) -> None:
    _insert_once(
        connection,
        ratings_t,
        {
            "tx_hash": e.tx_hash,
            "log_index": e.log_index,
            "app_id": e.args["appId"],
            "version": e.args["version"],
            "institution_id": e.args["institutionId"],
            "score": e.args["score"],
            "actor": e.args["actor"],
            "block_number": e.block_number,
            "block_time": e.block_time,
        },
    )


HANDLERS: dict[tuple[str, str], Handler] = {
    ("Marketplace", "VendorEnrolled"): vendor(True),
    ("Marketplace", "VendorRemoved"): vendor(False),
    ("Marketplace", "AdministratorSet"): administrator_set,
    ("Marketplace", "AppSubmitted"): submitted,
    ("Marketplace", "VoteCast"): vote_cast,
    ("Marketplace", "AppListed"): status_change("live"),
    ("Marketplace", "AppRejected"): status_change("rejected", reason="reason"),
    ("Marketplace", "AppSuspended"): status_change("suspended", actor="actor", reason="reason"),
    ("Marketplace", "AppReinstated"): status_change("live", actor="actor"),
    ("Marketplace", "AppRetired"): status_change("retired", actor="actor"),
    ("Marketplace", "AppInstalled"): installation(True),
    ("Marketplace", "AppUninstalled"): installation(False),
    ("Marketplace", "AppRated"): rated,
}


def recompute(connection: Connection) -> int:
    """Derive every version's status (and reason) from its newest status event left after a
    rewind; returns how many versions changed."""
    rows = connection.execute(
        sa.select(
            status_t.c.app_id,
            status_t.c.version,
            status_t.c.status,
            status_t.c.reason,
            status_t.c.block_number,
            status_t.c.log_index,
        ).order_by(status_t.c.block_number, status_t.c.log_index)
    ).all()
    latest: dict[tuple[str, int], Any] = {}
    for row in rows:
        latest[(row.app_id, int(row.version))] = row
    changed = 0
    current = connection.execute(
        sa.select(versions_t.c.app_id, versions_t.c.version, versions_t.c.status)
    ).all()
    for app_id, version, status in current:
        row = latest.get((app_id, int(version)))
        if row is None or row.status == status:
            continue
        connection.execute(
            sa.update(versions_t)
            .where(versions_t.c.app_id == app_id, versions_t.c.version == version)
            .values(
                status=row.status,
                reason=row.reason,
                updated_block=row.block_number,
                updated_log_index=row.log_index,
            )
        )
        changed += 1
    return changed


def attach_manifest(connection: Connection, *, cid: str, digest: str, document: str) -> int:
    """A manifest uploaded after its version was indexed: attach it to the versions naming
    its CID whose on-chain digest matches (and mark those that do not); returns how many."""
    rows = connection.execute(
        sa.select(versions_t.c.app_id, versions_t.c.version, versions_t.c.manifest_digest).where(
            versions_t.c.manifest_cid == cid, versions_t.c.digest_ok.is_not(True)
        )
    ).all()
    for app_id, version, on_chain in rows:
        connection.execute(
            sa.update(versions_t)
            .where(versions_t.c.app_id == app_id, versions_t.c.version == version)
            .values(**manifest_columns(document, on_chain == digest, cid))
        )
    return len(rows)
