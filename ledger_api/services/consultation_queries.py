"""Reading consultations, and who counts as invited to one.

A consultation's metadata is for its patient, its requester, the clinicians it invites and
auditors / consortium admins. Invited means: an active clinician of an invited institution
(``isInvited`` on chain), or one whose attributes satisfy the invited policy, whose text the
index keeps and whose hash the chain holds (the contract trusts the API to make this check
for opinions; :mod:`ledger_api.services.workflow_access` makes the same one for reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.errors import PolicyError
from crypto.policy import policy_hash, satisfies
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.workflow import ConsultationInfo
from ledger_api.http_errors import ForbiddenError, NotFoundError
from ledger_api.principal import Principal
from ledger_api.services import workflow_ledger as ledger
from ledger_api.services import workflows as wf
from ledger_api.services.access import chain_required
from storage.models import Consultation, ConsultationInvitation, ConsultationOpinion, Record
from storage.models.workflow import WorkflowDetail

if TYPE_CHECKING:
    from ledger_api.context import AppContext

KIND = "consultation"
STATES = ("open", "closed", "cancelled")


def chain_consultation(ctx: AppContext, cid: str) -> ConsultationInfo:
    """The consultation as the chain has it now (404 when it has none)."""
    with chain_required("cannot read the consultation"):
        try:
            return ctx.chain.workflow.consultation_of(bytes.fromhex(cid[2:]))
        except TransactionRevertedError as exc:
            if exc.error_name != "WorkflowUnknownConsultation":
                raise
    raise NotFoundError(f"no consultation {cid}", code="consultation_not_found")


def invited_policy_of(db: Session, cid: str) -> str | None:
    detail = db.get(WorkflowDetail, (KIND, cid))
    return detail.invited_policy if detail else None


def is_invited(
    ctx: AppContext, db: Session, principal: Principal, cid: str, info: ConsultationInfo
) -> bool:
    """An active clinician of an invited institution, or one whose attributes satisfy the
    invited policy (checked against the on-chain policy hash, as the contract trusts us to)."""
    if not principal.is_clinician or not principal.institution_id:
        return False
    with chain_required("cannot check the invitation"):
        if ctx.chain.workflow.is_invited(bytes.fromhex(cid[2:]), principal.institution_id):
            return True
    text = invited_policy_of(db, cid)
    if not text or info.policy_hash == bytes(32) or policy_hash(text) != info.policy_hash:
        return False
    try:
        return satisfies(text, principal.abe_attributes())
    except PolicyError:
        return False


def consultation_row(db: Session, cid: str) -> Consultation:
    row = db.get(Consultation, cid)
    if row is None:
        raise NotFoundError(f"no consultation {cid}", code="consultation_not_found")
    return row


def get_consultation(
    *, ctx: AppContext, db: Session, principal: Principal, consultation_id: str
) -> dict[str, Any]:
    """For its patient, its requester, invited clinicians and auditors (403 otherwise)."""
    cid = wf.parse_bytes32(consultation_id, "consultation_id")
    row = consultation_row(db, cid)
    caller = principal.address.lower()
    if not (caller in (row.patient, row.requester) or wf.oversees(principal)):
        info = chain_consultation(ctx, cid)
        if not is_invited(ctx, db, principal, cid, info):
            raise ForbiddenError("the consultation does not concern the caller")
    return consultation_view(db, row)


def list_consultations(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    role: str | None,
    state: str | None,
    offset: int,
    limit: int,
) -> wf.Page:
    """``invited`` (default for clinicians: open ones still taking opinions), ``requested``
    (the caller's own), ``patient`` (the caller's as patient), ``all`` (auditors)."""
    wf.page_bounds(offset, limit)
    if role is None:
        role = (
            "invited" if principal.is_clinician else "all" if wf.oversees(principal) else "patient"
        )
    if state is not None and state not in STATES:
        raise wf.invalid(f"state is one of {', '.join(STATES)}", "invalid_state")
    query = sa.select(Consultation)
    if state is not None:
        query = query.where(Consultation.state == state)
    order = (Consultation.block_number.desc(), Consultation.consultation_id)
    if role in ("invited", "requested"):  # the caller's work lists as a clinician
        wf.require_work_list_member(db, principal)
    if role == "requested":
        query = query.where(Consultation.requester == principal.address.lower())
    elif role == "patient":
        query = query.where(Consultation.patient == principal.address.lower())
    elif role == "all":
        if not wf.oversees(principal):
            raise ForbiddenError("listing every consultation is for auditors")
    elif role == "invited":
        rows = _invited_rows(ctx, db, principal, query.order_by(*order), state=state)
        return wf.Page(
            items=[consultation_view(db, r, full=False) for r in rows[offset : offset + limit]],
            total=len(rows),
            offset=offset,
            limit=limit,
        )
    else:
        raise wf.invalid("role is invited, requested, patient or all", "invalid_role")
    total = db.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = list(db.scalars(query.order_by(*order).offset(offset).limit(limit)))
    return wf.Page(
        items=[consultation_view(db, r, full=False) for r in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def _invited_rows(
    ctx: AppContext, db: Session, principal: Principal, query: Any, *, state: str | None
) -> list[Consultation]:
    """Consultations inviting the caller's institution or admitting their attributes; with
    no state asked, only those still taking opinions (open, deadline not passed)."""
    if not principal.is_clinician or not principal.institution_id:
        return []
    if state is None:
        query = query.where(Consultation.state == "open", Consultation.deadline > wf.chain_now(ctx))
    by_institution = sa.select(ConsultationInvitation.consultation_id).where(
        ConsultationInvitation.institution_id == principal.institution_id
    )
    attributes = principal.abe_attributes()
    rows = []
    for row in db.scalars(
        query.where(
            sa.or_(
                Consultation.consultation_id.in_(by_institution),
                Consultation.policy_hash.is_not(None),
            )
        )
    ):
        if row.requester == principal.address.lower():
            continue
        invited = db.scalar(
            by_institution.where(ConsultationInvitation.consultation_id == row.consultation_id)
        )
        text = invited_policy_of(db, row.consultation_id)
        if invited is None and not (text and satisfies(text, attributes)):
            continue
        rows.append(row)
    return rows


def consultation_view(db: Session, row: Consultation, *, full: bool = True) -> dict[str, Any]:
    detail = db.get(WorkflowDetail, (KIND, row.consultation_id))
    carried = ledger.records_of(db, KIND, row.consultation_id)
    invitations = db.scalars(
        sa.select(ConsultationInvitation.institution_id)
        .where(ConsultationInvitation.consultation_id == row.consultation_id)
        .order_by(ConsultationInvitation.institution_id)
    )
    opinions = list(
        db.scalars(
            sa.select(ConsultationOpinion)
            .where(ConsultationOpinion.consultation_id == row.consultation_id)
            .order_by(ConsultationOpinion.block_number, ConsultationOpinion.log_index)
        )
    )
    view: dict[str, Any] = {
        "consultation_id": row.consultation_id,
        "patient": to_checksum_address(row.patient),
        "requester": to_checksum_address(row.requester),
        "requester_institution": row.requester_institution,
        "invited_institutions": list(invitations),
        "invited_policy": detail.invited_policy if detail else None,
        "audience_policy": detail.audience_policy if detail else None,
        "deadline": row.deadline,
        "state": row.state,
        "question_record_id": row.record_id,
        "record_ids": [r.record_id for r in carried if r.role in ("question", "shared")],
        "consent_ids": sorted({r.consent_id for r in carried if r.consent_id}),
        "opinion_count": len(opinions),
        "conclusion_record_id": _record_by_body(db, row.conclusion_cid, row.conclusion_hash),
        "closing_reason": wf.reason_text(row.closing_reason),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
    }
    if full:
        view["opinions"] = [
            {
                "author": to_checksum_address(o.author),
                "institution_id": o.institution_id,
                "record_id": _record_by_body(db, o.opinion_cid, o.opinion_hash),
                "opinion_cid": o.opinion_cid,
                "opinion_hash": o.opinion_hash,
                "block_number": o.block_number,
                "block_time": o.block_time,
                "tx_hash": o.tx_hash,
            }
            for o in opinions
        ]
        view["history"] = ledger.history(db, KIND, row.consultation_id)
    return view


def _record_by_body(db: Session, body_cid: str | None, body_sha256: str | None) -> str | None:
    """The record whose body an opinion or conclusion names on chain (its CID and digest)."""
    if not body_cid or not body_sha256:
        return None
    return db.scalar(
        sa.select(Record.record_id)
        .where(Record.body_cid == body_cid, Record.body_sha256 == body_sha256)
        .order_by(Record.block_number)
        .limit(1)
    )
