"""Break-glass reads: the auditors' review queue, a patient's openings and their count, and
the read gate.

The **count** of a patient's openings is the break-glass counter of their record policies
(``bg:<n>``, ``clients/sdk/policies.py``): clients write the current count into every record they
encrypt, and the key of opening ``j`` carries only ``bg:<floor>`` … ``bg:<j-1>``, so it opens
nothing written or re-keyed after it was opened (``docs/break-glass.md``).

Read-only views over ``break_glass_events`` (the index); the writes and the read gate live in
:mod:`ledger_api.services.break_glass`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from eth_utils import is_address
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from ledger_api.http_errors import ForbiddenError, UnprocessableError
from ledger_api.inputs import quote
from ledger_api.principal import Principal
from ledger_api.services.chain_time import latest_block_time
from storage.models.emergency import BreakGlassEvent

if TYPE_CHECKING:
    from ledger_api.context import AppContext

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class OpeningPage:
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def _checksum(value: str | None) -> str | None:
    return to_checksum_address(value) if value else None


def opening_view(row: BreakGlassEvent, *, now: int) -> dict[str, Any]:
    """One opening as the API shows it (checksummed addresses; ``open`` by chain time)."""
    return {
        "id": row.opening_id,
        "clinician": to_checksum_address(row.clinician),
        "patient": to_checksum_address(row.patient),
        "reason": row.reason,
        "reason_hash": row.reason_hash,
        "co_signer": _checksum(row.co_signer),
        "opened_at": row.opened_at,
        "expires_at": row.expires_at,
        "open": now < row.expires_at,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
        "reviewed": row.reviewed,
        "justified": row.justified,
        "reviewer": _checksum(row.reviewer),
        "review_note": row.review_note,
        "reviewed_at": row.reviewed_at,
        "review_tx_hash": row.review_tx_hash,
    }


def is_overseer(principal: Principal) -> bool:
    return (principal.is_member and principal.role == "auditor") or principal.is_consortium_admin


def require_overseer(principal: Principal) -> None:
    if not is_overseer(principal):
        raise ForbiddenError(
            "the break-glass review queue is for auditors and the consortium admin",
            details={"role": principal.role},
        )


def _page(db: Session, where: list[Any], *, now: int, offset: int, limit: int) -> OpeningPage:
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise UnprocessableError(
            f"need offset ≥ 0 and 1 ≤ limit ≤ {MAX_LIMIT}", code="invalid_paging"
        )
    total = db.scalar(sa.select(sa.func.count()).select_from(BreakGlassEvent).where(*where)) or 0
    rows = db.scalars(
        sa.select(BreakGlassEvent)
        .where(*where)
        .order_by(BreakGlassEvent.opened_at.desc(), BreakGlassEvent.opening_id)
        .offset(offset)
        .limit(limit)
    )
    items = [opening_view(r, now=now) for r in rows]
    return OpeningPage(items=items, total=int(total), offset=offset, limit=limit)


def review_queue(
    *,
    db: Session,
    principal: Principal,
    now: int,
    reviewed: bool | None = None,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
) -> OpeningPage:
    """Openings newest first (``reviewed=False``: the ones still awaiting an auditor)."""
    require_overseer(principal)
    where: list[Any] = []
    if reviewed is not None:
        where.append(BreakGlassEvent.reviewed.is_(reviewed))
    return _page(db, where, now=now, offset=offset, limit=limit)


def patient_openings(
    *,
    db: Session,
    principal: Principal,
    patient: str,
    now: int,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
) -> OpeningPage:
    """The openings of ``patient``'s chart: for the patient, auditors and the admin."""
    if not is_address(patient):
        raise UnprocessableError(f"not an address: {quote(patient)}", code="invalid_address")
    if principal.address.lower() != patient.lower() and not is_overseer(principal):
        raise ForbiddenError(
            "a patient's break-glass openings are for the patient, auditors and the admin"
        )
    where = [BreakGlassEvent.patient == patient.lower()]
    return _page(db, where, now=now, offset=offset, limit=limit)


def may_read_count(principal: Principal, patient: str) -> bool:
    """Who learns a chart's break-glass count: those who encrypt records for it (the patient,
    active doctors and nurses and institutions' gateways, who may author records for any
    patient) and the overseers."""
    return (
        principal.address.lower() == patient.lower()
        or principal.is_clinician
        or (principal.is_member and principal.role == "gateway")
        or is_overseer(principal)
    )


def opening_count(*, db: Session, principal: Principal, patient: str) -> int:
    """How many break-glass openings ``patient``'s chart has had (indexed from the chain)."""
    if not is_address(patient):
        raise UnprocessableError(f"not an address: {quote(patient)}", code="invalid_address")
    if not may_read_count(principal, patient):
        raise ForbiddenError(  # the same refusal as sharing: who may not read it may not write
            "only an active doctor or nurse, or the patient themself, may share a record for "
            "this chart or read its break-glass count",
            code="not_author",
            details={"caller": principal.address, "patient": patient},
        )
    return int(
        db.scalar(
            sa.select(sa.func.count())
            .select_from(BreakGlassEvent)
            .where(BreakGlassEvent.patient == patient.lower())
        )
        or 0
    )


def opening_number(db: Session, row: BreakGlassEvent) -> int:
    """The 1-based rank of an opening among its patient's, in chain order."""
    earlier = db.scalar(
        sa.select(sa.func.count())
        .select_from(BreakGlassEvent)
        .where(
            BreakGlassEvent.patient == row.patient,
            sa.or_(
                BreakGlassEvent.block_number < row.block_number,
                sa.and_(
                    BreakGlassEvent.block_number == row.block_number,
                    BreakGlassEvent.log_index < row.log_index,
                ),
            ),
        )
    )
    return int(earlier or 0) + 1


def open_window(
    *, ctx: AppContext, db: Session, principal: Principal, patient: str
) -> tuple[str, str | None]:
    """The read gate: ``("open", opening id)``, ``("expired", None)`` (only ended openings)
    or ``("none", None)``; the opening id is what justifies the read in its log entry."""
    if not (principal.is_member and principal.role == "doctor"):
        return "none", None
    rows = db.execute(
        sa.select(BreakGlassEvent.opening_id, BreakGlassEvent.expires_at).where(
            BreakGlassEvent.clinician == principal.address.lower(),
            BreakGlassEvent.patient == patient.lower(),
        )
    ).all()
    if not rows:
        return "none", None
    now = latest_block_time(ctx)
    live = [opening for opening, expires in rows if now < expires]
    return ("open", live[0]) if live else ("expired", None)
