"""The access log as the index mirrors it, and who may read it.

It is for auditors and consortium admins: the access log says who looked at whose chart,
which is itself health information. The one exception is a patient's own chart: a patient may
list who accessed *their* records (and only theirs), since knowing that is the point of putting
every read on chain. Listing reads the index (fast, filterable);
:mod:`ledger_api.services.audit.verification` is how an auditor checks that the index can be
trusted for the range they care about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from eth_utils import is_address
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.signing import Purpose
from ledger_api.http_errors import ForbiddenError, UnprocessableError
from ledger_api.inputs import quote
from ledger_api.principal import Principal
from storage.models import AccessEvent

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

__all__ = ["AccessEventPage", "list_access_events", "require_auditor", "require_log_reader"]


@dataclass(frozen=True)
class AccessEventPage:
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def require_auditor(principal: Principal) -> Principal:
    """Active auditors and the consortium admin; everyone else (clinicians too) is refused."""
    if (principal.is_member and principal.role == "auditor") or principal.is_consortium_admin:
        return principal
    raise ForbiddenError(
        "the audit endpoints are for auditors and consortium admins",
        details={"role": principal.role},
    )


def require_log_reader(principal: Principal, patient: str | None) -> Principal:
    """Auditors and the admin read the whole log; a patient reads the log of their own chart."""
    if patient is not None and principal.address.lower() == patient.lower():
        return principal
    try:
        return require_auditor(principal)
    except ForbiddenError:
        raise ForbiddenError(
            "the access log is for auditors and consortium admins; a patient may list the "
            "accesses to their own records (patient=<your address>)",
            details={"role": principal.role},
        ) from None


def _address(value: str, name: str) -> str:
    if not is_address(value):
        raise UnprocessableError(f"{name} must be a 0x-hex address, got {quote(value)}")
    return value.lower()


def _record_id(value: str, name: str = "record") -> str:
    raw = value[2:] if value.startswith("0x") else value
    if len(raw) != 64 or any(c not in "0123456789abcdefABCDEF" for c in raw):
        raise UnprocessableError(f"{name} must be 0x followed by 64 hex digits, got {quote(value)}")
    return "0x" + raw.lower()


def _seconds(value: datetime | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.tzinfo is None:
        raise UnprocessableError(f"give times with a timezone (e.g. Z), got {value.isoformat()}")
    return int(value.timestamp())


def list_access_events(
    *,
    db: Session,
    principal: Principal,
    patient: str | None = None,
    record: str | None = None,
    accessor: str | None = None,
    granted: bool | None = None,
    since: datetime | int | None = None,
    until: datetime | int | None = None,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
    app: str | None = None,
) -> AccessEventPage:
    """Access decisions newest first; ``since`` inclusive, ``until`` exclusive (block time);
    ``app``: only the reads made for that SMART app (its listing id)."""
    require_log_reader(principal, patient)
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise UnprocessableError(
            f"need offset ≥ 0 and 1 ≤ limit ≤ {MAX_LIMIT}", code="invalid_paging"
        )
    where: list[Any] = []
    if patient is not None:
        where.append(AccessEvent.patient == _address(patient, "patient"))
    if record is not None:
        where.append(AccessEvent.record_id == _record_id(record))
    if accessor is not None:
        where.append(AccessEvent.accessor == _address(accessor, "accessor"))
    if granted is not None:
        where.append(AccessEvent.granted.is_(granted))
    if app is not None:
        where.append(AccessEvent.app_id == _record_id(app, "app"))
    start, stop = _seconds(since), _seconds(until)
    if start is not None:
        where.append(AccessEvent.block_time >= start)
    if stop is not None:
        where.append(AccessEvent.block_time < stop)
    total = db.scalar(sa.select(sa.func.count()).select_from(AccessEvent).where(*where)) or 0
    rows = db.scalars(
        sa.select(AccessEvent)
        .where(*where)
        .order_by(AccessEvent.block_number.desc(), AccessEvent.log_index.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return AccessEventPage(
        items=[_view(row) for row in rows], total=int(total), offset=offset, limit=limit
    )


def _view(row: AccessEvent) -> dict[str, Any]:
    return {
        "record_id": row.record_id,
        "patient": to_checksum_address(row.patient) if row.patient else None,
        "accessor": to_checksum_address(row.accessor),
        "purpose": Purpose(row.purpose).name.lower()
        if row.purpose in set(Purpose)
        else str(row.purpose),
        "granted": row.granted,
        "reason_code": row.reason_code,
        "block_number": row.block_number,
        "block_time": row.block_time,
        "tx_hash": row.tx_hash,
        "log_index": row.log_index,
        "repeats": row.repeats or 1,
        "last_repeat_at": row.last_repeat_at,
        "app_id": row.app_id,
        "client_id_hash": row.client_id_hash,
    }
