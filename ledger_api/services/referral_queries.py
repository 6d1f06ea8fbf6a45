"""Reading referrals: one with its records and history, and the work lists of both sides.

Who sees what: the patient, members of the sending and of the receiving institution, and
auditors / consortium admins see a referral's metadata (never record content, which is
decided per read by :mod:`ledger_api.services.workflow_access`). Work lists are per
institution (``incoming``, ``outgoing``, ``both``) for its members and for auditors; a patient
lists their own referrals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from ledger_api.http_errors import ForbiddenError, NotFoundError
from ledger_api.inputs import quote
from ledger_api.principal import Principal
from ledger_api.services import workflow_ledger as ledger
from ledger_api.services import workflows as wf
from storage.models import Referral
from storage.models.workflow import WorkflowDetail

if TYPE_CHECKING:
    from ledger_api.context import AppContext

KIND = "referral"
OPEN_STATES = ("requested", "accepted", "arrived")
STATES = (*OPEN_STATES, "completed", "rejected", "cancelled")


def referral_row(db: Session, rid: str) -> Referral:
    row = db.get(Referral, rid)
    if row is None:
        raise NotFoundError(f"no referral {rid}", code="referral_not_found")
    return row


def _may_see(principal: Principal, row: Referral) -> bool:
    if principal.address.lower() == row.patient or wf.oversees(principal):
        return True
    return principal.is_member and principal.institution_id in (
        row.from_institution,
        row.to_institution,
    )


def get_referral(
    *, ctx: AppContext, db: Session, principal: Principal, referral_id: str
) -> dict[str, Any]:
    """A referral with its records and history, for its patient, both institutions' members
    and auditors (403 for anyone else)."""
    del ctx
    row = referral_row(db, wf.parse_bytes32(referral_id, "referral_id"))
    if not _may_see(principal, row):
        raise ForbiddenError("this referral concerns neither the caller nor their institution")
    return referral_view(db, row)


def list_referrals(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    institution: int | str | None,
    direction: str,
    state: str | None,
    patient: str | None,
    offset: int,
    limit: int,
) -> wf.Page:
    """Work lists: a member sees their institution's referrals (``incoming``, ``outgoing`` or
    ``both``); a patient their own; auditors any institution's, or all."""
    wf.page_bounds(offset, limit)
    query = sa.select(Referral)
    if institution is not None:
        inst_id, _ = wf.resolve_institution(ctx, institution, "institution")
    elif principal.is_member and principal.institution_id and not wf.oversees(principal):
        inst_id = principal.institution_id
    else:
        inst_id = None
    if inst_id is not None:
        wf.require_work_list_member(db, principal, inst_id)
        sides = {
            "incoming": Referral.to_institution == inst_id,
            "outgoing": Referral.from_institution == inst_id,
            "both": sa.or_(
                Referral.to_institution == inst_id, Referral.from_institution == inst_id
            ),
        }
        if direction not in sides:
            raise wf.invalid("direction is incoming, outgoing or both", "invalid_direction")
        query = query.where(sides[direction])
    elif not wf.oversees(principal):  # a patient (or a member without an institution)
        query = query.where(Referral.patient == principal.address.lower())
    if patient is not None:
        query = query.where(Referral.patient == wf.parse_patient(patient).lower())
    if state is not None:
        states = OPEN_STATES if state == "open" else (state,)
        if not set(states) <= set(STATES):
            raise wf.invalid(f"unknown state {quote(state)}", "invalid_state")
        query = query.where(Referral.state.in_(states))
    total = db.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(Referral.block_number.desc(), Referral.referral_id)
        .offset(offset)
        .limit(limit)
    )
    return wf.Page(
        items=[referral_view(db, r, with_history=False) for r in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def referral_view(db: Session, row: Referral, *, with_history: bool = True) -> dict[str, Any]:
    detail = db.get(WorkflowDetail, (KIND, row.referral_id))
    carried = ledger.records_of(db, KIND, row.referral_id)
    view: dict[str, Any] = {
        "referral_id": row.referral_id,
        "patient": to_checksum_address(row.patient),
        "from_institution": row.from_institution,
        "to_institution": row.to_institution,
        "department": detail.department if detail else None,
        "urgency": detail.urgency if detail else None,
        "audience_policy": detail.audience_policy if detail else None,
        "requester": to_checksum_address(row.requester),
        "state": row.state,
        "open": row.state in OPEN_STATES,
        "reason_record_id": row.record_id,
        "manifest_sha256": row.reason,
        "record_ids": [r.record_id for r in carried if r.role in ("reason", "shared")],
        "consent_ids": sorted({r.consent_id for r in carried if r.consent_id}),
        "summary_record_id": row.summary_record_id,
        "closing_reason": wf.reason_text(row.closing_reason),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
    }
    if with_history:
        view["history"] = ledger.history(db, KIND, row.referral_id)
    return view
