"""Marketplace listings from the index: browse and search, an app's page, the review queue,
an institution's installed apps, and who holds which role.

Why computed here and not stored: install state, ratings and vote tallies are derived from
per-event rows (``storage.models.marketplace``) so that a replayed range or a chain rewind
never leaves a stale counter. The marketplace is small (apps, not records), so the
aggregation happens in Python over a few indexed queries.

A version's manifest is shown only when the uploaded document's digest equals the one on
chain (``digest_ok`` True); ``manifest_state`` says ``mismatch`` or ``missing`` otherwise,
and the listing then has no name or description to show: it is never trusted.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.http_errors import NotFoundError, UnprocessableError
from ledger_api.inputs import is_hex32
from ledger_api.services.access import chain_required
from storage.models.marketplace import (
    MarketplaceApp,
    MarketplaceInstall,
    MarketplaceManifest,
    MarketplaceRating,
    MarketplaceVendor,
    MarketplaceVersion,
    MarketplaceVote,
)
from storage.models.types import ZERO_ADDRESS

if TYPE_CHECKING:
    from ledger_api.context import AppContext
    from ledger_api.principal import Principal

ROLE_NAMES = {1: "platform_provider", 2: "regulator", 3: "consortium_authority"}
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
STATUS_FILTERS = ("live", "in_review", "rejected", "suspended", "retired", "all")


def check_app_id(app_id: str) -> str:
    if not is_hex32(app_id):
        raise UnprocessableError("app_id must be 0x and 64 hex digits", code="invalid_app_id")
    return app_id.lower()


def manifest_state(row: MarketplaceVersion) -> str:
    if row.digest_ok is True:
        return "ok"
    return "mismatch" if row.digest_ok is False else "missing"


def _installs(db: Session, app_ids: list[str] | None = None, inst: int | None = None) -> dict:
    """``{(institution, app): newest install row}`` of the rows where it is installed."""
    query = sa.select(MarketplaceInstall).order_by(
        MarketplaceInstall.block_number, MarketplaceInstall.log_index
    )
    if app_ids is not None:
        query = query.where(MarketplaceInstall.app_id.in_(app_ids))
    if inst is not None:
        query = query.where(MarketplaceInstall.institution_id == inst)
    latest: dict[tuple[int, str], MarketplaceInstall] = {}
    for row in db.scalars(query):
        latest[(int(row.institution_id), row.app_id)] = row
    return {key: row for key, row in latest.items() if row.installed}


def _ratings(db: Session, app_ids: list[str]) -> dict[tuple[str, int], tuple[int, int]]:
    """``{(app, version): (count, sum)}``."""
    rows = db.execute(
        sa.select(
            MarketplaceRating.app_id,
            MarketplaceRating.version,
            sa.func.count(),
            sa.func.sum(MarketplaceRating.score),
        )
        .where(MarketplaceRating.app_id.in_(app_ids))
        .group_by(MarketplaceRating.app_id, MarketplaceRating.version)
    ).all()
    return {(a, int(v)): (int(c), int(s or 0)) for a, v, c, s in rows}


def _avg(count: int, total: int) -> float | None:
    return round(total / count, 2) if count else None


def _app_rating(ratings: dict, app_id: str) -> tuple[float | None, int]:
    count = sum(c for (a, _), (c, _s) in ratings.items() if a == app_id)
    total = sum(s for (a, _), (_c, s) in ratings.items() if a == app_id)
    return _avg(count, total), count


def _contains(text: str) -> str:
    """A LIKE pattern matching ``text`` literally (``%`` and ``_`` are not wildcards)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_apps(
    *,
    db: Session,
    q: str | None = None,
    app_type: str | None = None,
    vendor: str | None = None,
    min_rating: float | None = None,
    status: str = "live",
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """One item per app: its newest version in ``status`` (``all``: its newest version)."""
    query = sa.select(MarketplaceVersion)
    if status != "all":
        query = query.where(MarketplaceVersion.status == status)
    if app_type:
        query = query.where(MarketplaceVersion.app_type == app_type)
    if q:
        pattern = _contains(q)
        query = query.where(
            sa.or_(
                sa.func.lower(MarketplaceVersion.name).like(pattern, escape="\\"),
                sa.func.lower(MarketplaceVersion.description).like(pattern, escape="\\"),
                sa.func.lower(MarketplaceVersion.vendor_name).like(pattern, escape="\\"),
            )
        )
    if vendor:
        text = vendor.lower()
        by_name = sa.func.lower(MarketplaceVersion.vendor_name).like(_contains(text), escape="\\")
        if _ADDRESS.fullmatch(text):  # an address is matched exactly, anything else by name
            query = query.where(sa.or_(MarketplaceVersion.vendor == text, by_name))
        else:
            query = query.where(by_name)
    newest: dict[str, MarketplaceVersion] = {}
    for row in db.scalars(query):
        if row.app_id not in newest or row.version > newest[row.app_id].version:
            newest[row.app_id] = row
    app_ids = list(newest)
    ratings = _ratings(db, app_ids) if app_ids else {}
    installs = _installs(db, app_ids) if app_ids else {}
    counts: dict[str, int] = defaultdict(int)
    for _inst, app in installs:
        counts[app] += 1
    items = []
    for app_id, row in newest.items():
        avg, count = _app_rating(ratings, app_id)
        if min_rating is not None and (avg is None or avg < min_rating):
            continue
        items.append(
            {
                "app_id": app_id,
                "name": row.name,
                "type": row.app_type,
                "vendor": row.vendor,
                "vendor_name": row.vendor_name,
                "version": int(row.version),
                "version_label": row.version_label,
                "date": row.release_date,
                "status": row.status,
                "manifest_state": manifest_state(row),
                "rating_avg": avg,
                "rating_count": count,
                "install_count": counts[app_id],
                "description": row.description,
                "submitted_at": row.submitted_at,
            }
        )
    items.sort(key=lambda i: (-(i["rating_avg"] or 0), i["name"] or "\uffff", i["app_id"]))
    return {"items": items[offset : offset + limit], "total": len(items)}


def _votes(db: Session, app_id: str) -> dict[int, list[dict[str, Any]]]:
    rows = db.scalars(
        sa.select(MarketplaceVote)
        .where(MarketplaceVote.app_id == app_id)
        .order_by(MarketplaceVote.block_number, MarketplaceVote.log_index)
    )
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for v in rows:
        out[int(v.version)].append(
            {
                "role": int(v.role),
                "role_name": ROLE_NAMES.get(int(v.role), "unknown"),
                "account": v.account,
                "approve": v.approve,
                "reason": v.reason,
                "time": v.block_time,
                "tx_hash": v.tx_hash,
                "block_number": int(v.block_number),
            }
        )
    return out


def _manifest(db: Session, row: MarketplaceVersion) -> dict[str, Any] | None:
    if row.digest_ok is not True or row.manifest_cid is None:
        return None
    stored = db.get(MarketplaceManifest, row.manifest_cid)
    if stored is None or stored.digest != row.manifest_digest:
        return None
    document: dict[str, Any] = json.loads(stored.document)
    return document


def _version_out(
    db: Session, row: MarketplaceVersion, votes: list[dict[str, Any]], ratings: dict
) -> dict[str, Any]:
    count, total = ratings.get((row.app_id, int(row.version)), (0, 0))
    return {
        "version": int(row.version),
        "version_label": row.version_label,
        "status": row.status,
        "reason": row.reason,
        "name": row.name,
        "manifest": _manifest(db, row),
        "manifest_cid": row.manifest_cid,
        "manifest_uri": row.manifest_uri,
        "manifest_state": manifest_state(row),
        "digest": row.manifest_digest,
        "digest_ok": row.digest_ok,
        "submitted_at": row.submitted_at,
        "tx_hash": row.tx_hash,
        "block_number": int(row.block_number),
        "votes": votes,
        "rating_avg": _avg(count, total),
        "rating_count": count,
    }


def app_detail(*, db: Session, app_id: str) -> dict[str, Any]:
    app_id = check_app_id(app_id)
    app = db.get(MarketplaceApp, app_id)
    if app is None:
        raise NotFoundError(f"no app {app_id} in the marketplace", code="app_not_found")
    rows = list(
        db.scalars(
            sa.select(MarketplaceVersion)
            .where(MarketplaceVersion.app_id == app_id)
            .order_by(MarketplaceVersion.version.desc())
        )
    )
    votes = _votes(db, app_id)
    ratings = _ratings(db, [app_id])
    installs = _installs(db, [app_id])
    live = next((r for r in rows if r.status == "live"), None)
    listed = live or next((r for r in rows if r.status == "suspended"), None)
    status = (listed or rows[0]).status if rows else "none"
    avg, count = _app_rating(ratings, app_id)
    return {
        "app_id": app_id,
        "vendor": app.vendor,
        "status": status,
        "live_version": int(live.version) if live else None,
        "versions": [_version_out(db, r, votes.get(int(r.version), []), ratings) for r in rows],
        "rating_avg": avg,
        "rating_count": count,
        "install_count": len(installs),
        "installed_by": sorted(inst for inst, _ in installs),
    }


def review_queue(*, db: Session) -> dict[str, Any]:
    rows = list(
        db.scalars(
            sa.select(MarketplaceVersion)
            .where(MarketplaceVersion.status == "in_review")
            .order_by(MarketplaceVersion.block_number, MarketplaceVersion.log_index)
        )
    )
    items = []
    for row in rows:
        votes = _votes(db, row.app_id).get(int(row.version), [])
        out = _version_out(db, row, votes, {})
        out.update(app_id=row.app_id, vendor=row.vendor, type=row.app_type)
        out.update(
            approvals=sorted({v["role_name"] for v in votes if v["approve"]}),
            pending_roles=sorted(set(ROLE_NAMES.values()) - {v["role_name"] for v in votes}),
        )
        items.append(out)
    return {"items": items, "total": len(items)}


def institution_apps(*, db: Session, institution_id: int) -> dict[str, Any]:
    installs = _installs(db, inst=institution_id)
    app_ids = [app for _inst, app in installs]
    versions: dict[str, list[MarketplaceVersion]] = defaultdict(list)
    if app_ids:
        for row in db.scalars(
            sa.select(MarketplaceVersion).where(MarketplaceVersion.app_id.in_(app_ids))
        ):
            versions[row.app_id].append(row)
    items = []
    for (_inst, app_id), install in sorted(installs.items()):
        rows = sorted(versions[app_id], key=lambda r: -r.version)
        live = next((r for r in rows if r.status == "live"), None)
        shown = live or (rows[0] if rows else None)
        items.append(
            {
                "app_id": app_id,
                "name": shown.name if shown else None,
                "type": shown.app_type if shown else None,
                "installed_version": install.version,
                "live_version": int(live.version) if live else None,
                "launchable": live is not None,
                "status": shown.status if shown else None,
                "installed_at": install.block_time,
                "tx_hash": install.tx_hash,
                "block_number": int(install.block_number),
                "versions": [
                    {
                        "version": int(r.version),
                        "version_label": r.version_label,
                        "status": r.status,
                    }
                    for r in rows
                ],
            }
        )
    return {"institution_id": institution_id, "items": items, "total": len(items)}


def roles(*, ctx: AppContext, db: Session, principal: Principal | None) -> dict[str, Any]:
    """Administrators as the chain has them now; vendors from the index; the caller's own."""
    market = ctx.chain.marketplace
    with chain_required("cannot read the marketplace roles"):
        admins = {}
        for number, name in ROLE_NAMES.items():
            account = market.administrator(number)
            admins[name] = None if account.lower() == ZERO_ADDRESS else account
        me = None
        if principal is not None:
            role = market.administrator_role_of(principal.address)
            me = {
                "address": principal.address,
                "is_vendor": market.is_vendor(principal.address),
                "admin_role": ROLE_NAMES[int(role)] if role else None,
                "is_consortium_admin": principal.is_consortium_admin,
                "institution_id": principal.institution_id or None,
                "is_institution_admin": principal.is_institution_admin,
            }
    vendors = [
        {"address": v.vendor, "since_block": int(v.block_number), "tx_hash": v.tx_hash}
        for v in db.scalars(
            sa.select(MarketplaceVendor)
            .where(MarketplaceVendor.enrolled.is_(True))
            .order_by(MarketplaceVendor.block_number)
        )
    ]
    return {"administrators": admins, "vendors": vendors, "me": me}
