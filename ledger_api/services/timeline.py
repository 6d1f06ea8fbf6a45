"""A patient's unified timeline: records of every institution and workflow events, newest first.

Each record appears with its clear index entry only (type, clinical date, author institution)
and whether the caller may open it; referral and consultation transitions (created, accepted,
completed, …) are interleaved, each with its transaction. Ordering is by the record's clinical
date when the uploader gave one (:mod:`crypto.record_dates`), else its
registration time, and by block time for workflow events.

Who sees what (metadata only, so nothing is logged — like the chart listing in
:func:`ledger_api.services.record_reads.list_chart`):

- the patient: every record (all of them open to them) and every workflow event;
- auditors and consortium admins: every item, no record open (they never read content);
- a doctor or nurse: only the records an access decision would grant them
  (:func:`ledger_api.services.access.decide`, for treatment, referral and consultation unless
  one purpose is asked for; the item names the purpose that opens it), and the events of the
  referrals and consultations that concern them; 403 when nothing of the page does;
- anyone else: 403.

Paging: the timeline is ordered from the index alone, the page taken, and access decided for
the records of that page only (bounded work: at most ``limit`` decisions per purpose, where
it was every record of the chart for three purposes). ``total`` counts the timeline's items
before access, so a clinician's page can hold fewer than ``limit`` items; page with
``offset += limit`` until ``total``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.errors import PolicyError
from crypto.policy import satisfies
from crypto.record_dates import record_date_seconds
from crypto.signing import Purpose
from ledger_api.chain.consortium import unpack_text32
from ledger_api.http_errors import ForbiddenError
from ledger_api.principal import Principal
from ledger_api.services.access import chain_required, decide
from ledger_api.services.consultation_queries import invited_policy_of
from ledger_api.services.record_reads import MAX_PAGE, checked_patient_page
from ledger_api.services.records import confirmed_records_of
from ledger_api.services.uploads import record_type_text
from ledger_api.services.workflows import oversees
from storage.models import Consultation, ConsultationInvitation, Institution, Record, Referral
from storage.models.workflow import WorkflowDetail, WorkflowTransition

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["DEFAULT_PURPOSES", "MAX_PAGE", "TimelinePage", "timeline"]

DEFAULT_PURPOSES = (Purpose.TREATMENT, Purpose.REFERRAL, Purpose.CONSULTATION)


@dataclass(frozen=True)
class TimelinePage:
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def timeline(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    patient: str,
    purposes: tuple[Purpose, ...] = DEFAULT_PURPOSES,
    offset: int,
    limit: int,
) -> TimelinePage:
    """One page of ``patient``'s timeline as the caller may see it (module docstring)."""
    patient = checked_patient_page(patient, offset=offset, limit=limit)
    is_patient = principal.address == patient
    if not (is_patient or oversees(principal) or principal.is_clinician):
        raise ForbiddenError(
            "a patient's timeline is for the patient, their clinicians and auditors",
            details={"patient": patient},
        )
    institutions = _Institutions(db)
    full = is_patient or oversees(principal)
    rows = {r.record_id: r for r in confirmed_records_of(db, patient)}
    opened_for = Purpose.TREATMENT if is_patient else None
    items = [_record_item(r, opened_for, institutions) for r in rows.values()]
    items += _referral_events(db, principal, patient, institutions, full=full)
    items += _consultation_events(db, principal, patient, institutions, full=full)
    items.sort(key=lambda i: (i["time"], i["block_number"] or 0, i["log_index"]), reverse=True)
    # page first (the index alone orders the timeline), then decide access for the records
    # of this page only: one request costs at most ``limit`` decisions per purpose
    window = items[offset : offset + limit]
    if not full:
        listed = [rows[i["record_id"]] for i in window if i["kind"] == "record"]
        with chain_required("cannot check the consents"):
            opens = _openable(ctx=ctx, db=db, principal=principal, rows=listed, purposes=purposes)
        window = [
            _record_item(rows[i["record_id"]], opens[i["record_id"]], institutions)
            if i["kind"] == "record"
            else i
            for i in window
            if i["kind"] != "record" or i["record_id"] in opens
        ]
        if not window:
            raise ForbiddenError(
                "nothing of this page of the patient's timeline is open to the caller",
                details={"patient": patient, "offset": offset, "limit": limit},
            )
    return TimelinePage(items=window, total=len(items), offset=offset, limit=limit)


# --------------------------------------------------------------------------- records


def _openable(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    rows: list[Record],
    purposes: tuple[Purpose, ...],
) -> dict[str, Purpose | None]:
    """Record id → the first purpose a decision grants the caller (records none grants are
    left out). A whole-chart consent for a purpose answers for every record at once."""
    found: dict[str, Purpose | None] = {}
    if not rows:
        return found
    patient = rows[0].patient
    for purpose in purposes:
        pending = [r for r in rows if r.record_id not in found]
        if not pending:
            break
        if purpose not in (Purpose.REFERRAL, Purpose.CONSULTATION) and (
            ctx.chain.consents.is_allowed(
                patient=patient, grantee=principal.address, record_id=bytes(32), purpose=purpose
            )
        ):
            found.update({r.record_id: purpose for r in pending if r.status != "withdrawn"})
            continue
        for row in pending:
            if decide(ctx=ctx, db=db, principal=principal, record=row, purpose=purpose)[0]:
                found[row.record_id] = purpose
    return found


def _record_item(
    row: Record, opened_for: Purpose | None, institutions: _Institutions
) -> dict[str, Any]:
    registered = row.registered_at or 0
    clinical = None
    if row.record_date:
        try:
            clinical = record_date_seconds(row.record_date)
        except ValueError:  # checked on upload; an old or foreign row must not break the list
            clinical = None
    return {
        "kind": "record",
        "time": registered if clinical is None else clinical,
        "date": row.record_date if clinical is not None else _iso(registered),
        "date_source": "clinical" if clinical is not None else "registered",
        "record_id": row.record_id,
        "record_type": record_type_text(row.record_type),
        "author": to_checksum_address(row.author) if row.author else None,
        "institution": institutions.view(row.author_institution),
        "status": row.status,
        "may_open": opened_for is not None,
        "purpose": opened_for.name.lower() if opened_for is not None else None,
        "registered_at": row.registered_at,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
        "log_index": row.log_index or 0,
    }


# --------------------------------------------------------------------------- workflow events


def _referral_events(
    db: Session, principal: Principal, patient: str, institutions: _Institutions, *, full: bool
) -> list[dict[str, Any]]:
    referrals = db.scalars(sa.select(Referral).where(Referral.patient == patient.lower())).all()
    items: list[dict[str, Any]] = []
    for row in referrals:
        sides = (row.from_institution, row.to_institution)
        if not (full or (principal.is_member and principal.institution_id in sides)):
            continue
        detail = db.get(WorkflowDetail, ("referral", row.referral_id))
        extra = {
            "from_institution": institutions.view(row.from_institution),
            "to_institution": institutions.view(row.to_institution),
            "department": detail.department if detail else None,
        }
        items += _events(db, "referral", row.referral_id, institutions, extra)
    return items


def _consultation_events(
    db: Session, principal: Principal, patient: str, institutions: _Institutions, *, full: bool
) -> list[dict[str, Any]]:
    rows = db.scalars(sa.select(Consultation).where(Consultation.patient == patient.lower()))
    items: list[dict[str, Any]] = []
    for row in rows.all():
        invited = set(
            db.scalars(
                sa.select(ConsultationInvitation.institution_id).where(
                    ConsultationInvitation.consultation_id == row.consultation_id
                )
            )
        )
        if not (full or _concerns(db, principal, row, invited)):
            continue
        extra = {
            "institution": institutions.view(row.requester_institution),
            "invited_institutions": [institutions.view(i) for i in sorted(invited)],
        }
        items += _events(db, "consultation", row.consultation_id, institutions, extra)
    return items


def _concerns(db: Session, principal: Principal, row: Consultation, invited: set[int]) -> bool:
    """The requester, a clinician of an invited institution, or one the invited policy names
    (the index's text; the consultation's own reads check it against the chain's hash)."""
    if principal.address.lower() == row.requester:
        return True
    if not principal.is_clinician:
        return False
    if principal.institution_id in invited:
        return True
    text = invited_policy_of(db, row.consultation_id)
    try:
        return bool(text) and satisfies(text or "", principal.abe_attributes())
    except PolicyError:
        return False


def _events(
    db: Session, kind: str, workflow_id: str, institutions: _Institutions, extra: dict[str, Any]
) -> list[dict[str, Any]]:
    query = sa.select(WorkflowTransition).where(
        WorkflowTransition.kind == kind, WorkflowTransition.workflow_id == workflow_id
    )
    return [
        {
            "kind": kind,
            "time": t.block_time,
            "date": _iso(t.block_time),
            "date_source": "chain",
            "workflow_id": workflow_id,
            "event": t.event,
            "state": t.to_state,
            "actor": to_checksum_address(t.actor),
            **extra,
            "tx_hash": t.tx_hash,
            "block_number": t.block_number,
            "log_index": t.log_index,
        }
        for t in db.scalars(query)
    ]


# --------------------------------------------------------------------------- helpers


class _Institutions:
    """Institution id → ``{id, code, name}`` from the index (read once per id)."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.cache: dict[int, dict[str, Any] | None] = {}

    def view(self, institution_id: int | None) -> dict[str, Any] | None:
        if not institution_id:
            return None  # authored by the patient themself
        if institution_id not in self.cache:
            row = self.db.get(Institution, institution_id)
            self.cache[institution_id] = (
                {"id": institution_id, "code": None, "name": None}
                if row is None
                else {
                    "id": institution_id,
                    "code": unpack_text32(bytes.fromhex(row.code[2:])),
                    "name": row.name,
                }
            )
        return self.cache[institution_id]


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")
