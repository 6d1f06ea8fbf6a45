"""Listing consents: who may see which, and whether each is still in force.

Split from :mod:`ledger_api.services.consents` (which writes) because reading has its own
rule set: a patient sees the consents they gave, a grantee those naming them, auditors and
consortium admins any; and "active" is not a column but a judgement — not revoked, inside its
window by chain time, and not replaced by a later consent for the same key (the contract keeps
one consent per key, so an older one the index still holds no longer counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.signing import Purpose
from ledger_api.http_errors import ForbiddenError, UnprocessableError
from ledger_api.inputs import is_ascii_digits, quote
from ledger_api.principal import Principal
from ledger_api.services.chain_time import latest_block_time
from ledger_api.services.consents import parse_address
from storage.models import Consent as ConsentRow

if TYPE_CHECKING:
    from ledger_api.context import AppContext

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class ConsentPage:
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def may_see_all_consents(principal: Principal) -> bool:
    return (principal.is_member and principal.role == "auditor") or principal.is_consortium_admin


def list_consents(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    patient: str | None = None,
    grantee: str | None = None,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
    expiring_within: str | None = None,
) -> ConsentPage:
    """Consents by patient and/or grantee, newest first, with ``active`` as of chain time.

    A patient sees consents they gave, a grantee those naming them; auditors and consortium
    admins see any. ``active`` is false once revoked, outside the window, or replaced by a
    later consent for the same key (the contract keeps one consent per key); ``expired`` says
    the window closed (no transaction needed: the contract's view checks the time).
    ``expiring_within`` (seconds, or ``<n>d`` / ``<n>h``) keeps only the consents in force now
    that end within that long, soonest first: what a patient may want to renew.
    """
    window = parse_window(expiring_within) if expiring_within is not None else None
    patient = parse_address(patient, "patient").lower() if patient else None
    grantee = parse_address(grantee, "grantee").lower() if grantee else None
    caller = principal.address.lower()
    if not may_see_all_consents(principal):
        if patient is None and grantee is None:
            raise UnprocessableError(
                "give patient= or grantee= (your own address)", code="missing_filter"
            )
        if caller not in (patient, grantee):
            raise ForbiddenError("you may list only consents you gave or that name you")
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise UnprocessableError(
            f"need offset ≥ 0 and 1 ≤ limit ≤ {MAX_LIMIT}", code="invalid_paging"
        )
    if window is not None:
        return _expiring(
            ctx=ctx,
            db=db,
            patient=patient,
            grantee=grantee,
            window=window,
            offset=offset,
            limit=limit,
        )
    where = []
    if patient is not None:
        where.append(ConsentRow.patient == patient)
    if grantee is not None:
        where.append(ConsentRow.grantee == grantee)
    total = db.scalar(sa.select(sa.func.count()).select_from(ConsentRow).where(*where)) or 0
    rows = db.scalars(
        sa.select(ConsentRow)
        .where(*where)
        .order_by(ConsentRow.block_number.desc(), ConsentRow.log_index.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    latest = _latest_nonces(db, rows)
    now = latest_block_time(ctx) if rows else 0
    items = [_view(row, now=now, latest=latest) for row in rows]
    return ConsentPage(items=items, total=int(total), offset=offset, limit=limit)


MAX_WINDOW = 10 * 365 * 86_400
_UNITS = {"s": 1, "h": 3_600, "d": 86_400}


def parse_window(text: str) -> int:
    """``3600``, ``3600s``, ``12h`` or ``30d`` → seconds (1 second to 10 years)."""
    raw = text.strip().lower()
    unit = _UNITS.get(raw[-1:]) if raw else None
    digits = raw[:-1] if unit is not None else raw
    if not is_ascii_digits(digits) or len(digits) > 12:
        raise UnprocessableError(
            "expiring_within must be seconds, or a number of days (30d) or hours (12h): "
            + quote(text),
            code="invalid_window",
        )
    seconds = int(digits) * (unit or 1)
    if not 1 <= seconds <= MAX_WINDOW:
        raise UnprocessableError(
            f"expiring_within must be between 1 second and {MAX_WINDOW // 86_400} days",
            code="invalid_window",
        )
    return seconds


def _expiring(
    *,
    ctx: AppContext,
    db: Session,
    patient: str | None,
    grantee: str | None,
    window: int,
    offset: int,
    limit: int,
) -> ConsentPage:
    """Consents in force now (chain time) that end within ``window`` seconds, soonest first.

    Superseded ones (renewed already) are left out, so the list is exactly what still needs a
    renewal; the filter runs in SQL but for that last check, hence the page is cut here."""
    now = latest_block_time(ctx)
    where = [
        ConsentRow.revoked.is_(False),
        ConsentRow.not_before <= now,
        ConsentRow.expires_at > now,
        ConsentRow.expires_at <= now + window,
    ]
    if patient is not None:
        where.append(ConsentRow.patient == patient)
    if grantee is not None:
        where.append(ConsentRow.grantee == grantee)
    rows = db.scalars(
        sa.select(ConsentRow).where(*where).order_by(ConsentRow.expires_at, ConsentRow.consent_id)
    ).all()
    latest = _latest_nonces(db, rows)
    items = [v for v in (_view(r, now=now, latest=latest) for r in rows) if v["active"]]
    return ConsentPage(
        items=items[offset : offset + limit], total=len(items), offset=offset, limit=limit
    )


def _key(row: ConsentRow) -> tuple[Any, ...]:
    return (row.patient, row.grantee, row.grantee_policy_hash, row.record_id, row.purpose)


def _latest_nonces(db: Session, rows: Any) -> dict[tuple[Any, ...], int]:
    """Highest nonce per consent key among the patients on the page (a later grant replaces)."""
    patients = sorted({row.patient for row in rows})
    latest: dict[tuple[Any, ...], int] = {}
    if not patients:
        return latest
    others = db.scalars(sa.select(ConsentRow).where(ConsentRow.patient.in_(patients))).all()
    for other in others:
        key = _key(other)
        latest[key] = max(latest.get(key, 0), int(other.nonce))
    return latest


def _view(row: ConsentRow, *, now: int, latest: dict[tuple[Any, ...], int]) -> dict[str, Any]:
    superseded = int(row.nonce) < latest.get(_key(row), 0)
    in_window = row.not_before <= now < row.expires_at
    return {
        "consent_id": row.consent_id,
        "patient": to_checksum_address(row.patient),
        "grantee": to_checksum_address(row.grantee) if row.grantee else None,
        "grantee_policy_hash": row.grantee_policy_hash,
        "grantee_policy": row.policy_text,
        "record_id": row.record_id,
        "purpose": Purpose(row.purpose).name.lower()
        if row.purpose in set(Purpose)
        else str(row.purpose),
        "not_before": row.not_before,
        "expires_at": row.expires_at,
        "nonce": row.nonce,
        "revoked": row.revoked,
        "revoked_at": row.revoked_at,
        "superseded": superseded,
        "active": not row.revoked and not superseded and in_window,
        "expired": now >= row.expires_at,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
        "granted_at": row.granted_at,
    }
