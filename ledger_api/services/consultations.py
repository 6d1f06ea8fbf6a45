"""Remote consultations (远程会诊): a doctor asks specialists of other institutions.

The requesting doctor invites institutions, or an attribute policy (``role:doctor and
dept:cardiology``), or both, shares a question record and other records with the patient's
consent (purpose ``consultation``) for the audience policy — ``org:<code>`` of each invited
institution ORed with the invited policy — and sets a deadline. Invited clinicians read the
shared records and each post one opinion (a record they uploaded, whose policy admits the
requester and the patient) until the deadline or the close; the requester closes with a
conclusion record, or cancels. The contract trusts the relayer's word that a caller satisfies
the invited policy; that word is this module's check of the caller's attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from eth_utils import to_checksum_address
from sqlalchemy.orm import Session

from crypto.errors import PolicyError
from crypto.policy import normalize, policy_hash, satisfies
from crypto.signing import Purpose
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.workflow import MAX_INVITED, ConsultationInfo, ConsultationStatus
from ledger_api.http_errors import ConflictError, ForbiddenError, NotFoundError
from ledger_api.principal import Principal
from ledger_api.services import auth as auth_service
from ledger_api.services import workflows as wf
from ledger_api.services.access import chain_required
from ledger_api.services.chain_time import latest_block_time
from storage.models import Consultation, ConsultationInvitation, ConsultationOpinion
from storage.models.workflow import WorkflowDetail

if TYPE_CHECKING:
    from ledger_api.context import AppContext

KIND = "consultation"
STATES = ("open", "closed", "cancelled")


def audience_policy(institution_codes: Sequence[str], invited_policy: str | None) -> str:
    """Who the consultation addresses, as one policy: the patient's consents name it."""
    parts = [f"org:{code}" for code in sorted(set(institution_codes))]
    if invited_policy:
        parts.append(f"({invited_policy})")
    return normalize(" or ".join(parts))


# --------------------------------------------------------------------------- create


def create_consultation(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    patient: str,
    question_record_id: str,
    record_ids: Sequence[str],
    invited_institutions: Sequence[int | str],
    invited_policy: str | None,
    deadline: int,
    consents: Sequence[Mapping[str, Any]],
    consultation_id: str | None = None,
) -> dict[str, Any]:
    """Check everything, relay the consents, open the consultation; the view of it."""
    wf.require_clinician(principal)
    patient = wf.parse_patient(patient)
    cid = wf.new_or_given_id(consultation_id, "consultation_id")
    if len(invited_institutions) > MAX_INVITED:
        raise wf.invalid(f"invite at most {MAX_INVITED} institutions", "invalid_invitees")
    invited: dict[int, str] = {}
    for value in invited_institutions:
        inst_id, code = wf.resolve_institution(ctx, value, "invited_institution")
        invited[inst_id] = code
    policy = wf.normalized_policy(invited_policy, "invited_policy") if invited_policy else None
    if not invited and policy is None:
        raise wf.invalid("invite institutions or an attribute policy", "invalid_invitees")
    now = latest_block_time(ctx)
    if not now < deadline < 2**40:
        raise wf.invalid(
            f"the deadline must be after the chain's time {now}", "invalid_deadline", now=now
        )
    question = wf.parse_bytes32(question_record_id, "question_record_id")
    shared = [r for r in wf.parse_record_ids(record_ids) if r != question]
    carried = [question, *shared]
    wf.require_records(db, patient=patient, record_ids=carried)
    audience = audience_policy(list(invited.values()), policy)
    signed = wf.parse_consents(consents)
    covering = wf.check_consents(
        ctx,
        consents=signed,
        patient=patient,
        purpose=Purpose.CONSULTATION,
        audience_policy=audience,
        record_ids=carried,
    )
    if _exists(ctx, cid):
        raise ConflictError(f"consultation {cid} exists", code="duplicate_id")
    wf.release_snapshot(db)
    wf.relay_consents(ctx=ctx, db=db, principal=principal, consents=signed)
    mined = wf.send(
        lambda: ctx.chain.workflow.request_consultation(
            actor=principal.address,
            consultation_id=bytes.fromhex(cid[2:]),
            patient=patient,
            record_id=bytes.fromhex(question[2:]),
            invited_institutions=sorted(invited),
            policy_hash=policy_hash(policy) if policy else bytes(32),
            deadline=deadline,
        )
    )
    wf.index_receipt(ctx, db, mined)
    db.add(
        WorkflowDetail(kind=KIND, workflow_id=cid, invited_policy=policy, audience_policy=audience)
    )
    wf.add_records(
        db,
        kind=KIND,
        workflow_id=cid,
        rows=[
            (r, "question" if r == question else "shared", covering[r], principal.address)
            for r in carried
        ],
    )
    return consultation_view(db, _row(db, cid))


def chain_consultation(ctx: AppContext, cid: str) -> ConsultationInfo:
    """The consultation as the chain has it now (404 when it has none)."""
    with chain_required("cannot read the consultation"):
        try:
            return ctx.chain.workflow.consultation_of(bytes.fromhex(cid[2:]))
        except TransactionRevertedError as exc:
            if exc.error_name != "WorkflowUnknownConsultation":
                raise
    raise NotFoundError(f"no consultation {cid}", code="consultation_not_found")


def _exists(ctx: AppContext, cid: str) -> bool:
    try:
        chain_consultation(ctx, cid)
    except NotFoundError:
        return False
    return True


# --------------------------------------------------------------------------- who is invited


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


# --------------------------------------------------------------------------- opinions, close


def _require_open(ctx: AppContext, cid: str, info: ConsultationInfo, action: str) -> None:
    if info.status != ConsultationStatus.OPEN:
        state = info.status.name.lower()
        raise ConflictError(
            f"cannot {action}: the consultation is {state}",
            code="invalid_transition",
            details={"action": action, "state": state},
        )
    now = latest_block_time(ctx)
    if action == "give an opinion" and now >= info.deadline:
        # the next block's time is at least ``now`` + 1 on any chain we run: past the deadline
        raise ConflictError(
            f"the consultation's deadline {info.deadline} has passed (chain time {now})",
            code="deadline_passed",
            details={"deadline": info.deadline, "now": now},
        )


def submit_opinion(
    *, ctx: AppContext, db: Session, principal: Principal, consultation_id: str, record_id: str
) -> dict[str, Any]:
    """An invited clinician's opinion: a record they uploaded for the requester and patient."""
    cid = wf.parse_bytes32(consultation_id, "consultation_id")
    info = chain_consultation(ctx, cid)
    if not is_invited(ctx, db, principal, cid, info):
        raise ForbiddenError(
            "only clinicians the consultation invites may give an opinion", code="not_invited"
        )
    _require_open(ctx, cid, info, "give an opinion")
    with chain_required("cannot read the consultation"):
        opined = ctx.chain.workflow.has_opined(bytes.fromhex(cid[2:]), principal.address)
    if opined:
        raise ConflictError("the caller already gave an opinion", code="already_opined")
    rid = wf.parse_bytes32(record_id, "record_id")
    (row,) = wf.require_records(db, patient=info.patient, record_ids=[rid])
    if row.author != principal.address.lower():
        raise wf.invalid("an opinion is a record the caller uploaded", "not_author", record_id=rid)
    policy = wf.record_policy(ctx, row)
    requester = auth_service.principal_for(ctx=ctx, address=info.requester)
    if not (
        satisfies(policy, requester.abe_attributes())
        and satisfies(policy, [f"uid:{info.patient.lower()}"])
    ):
        raise wf.invalid(
            "the opinion's policy must admit the requesting doctor and the patient",
            "opinion_not_for_requester",
            record_id=rid,
        )
    body_cid, body_hash = row.body_cid, bytes.fromhex(row.body_sha256[2:])
    wf.release_snapshot(db)
    mined = wf.send(
        lambda: ctx.chain.workflow.submit_opinion(
            actor=principal.address,
            consultation_id=bytes.fromhex(cid[2:]),
            opinion_cid=body_cid,
            opinion_hash=body_hash,
        )
    )
    wf.index_receipt(ctx, db, mined)
    wf.add_records(db, kind=KIND, workflow_id=cid, rows=[(rid, "opinion", None, principal.address)])
    return consultation_view(db, _row(db, cid))


def _require_requester(principal: Principal, info: ConsultationInfo, action: str) -> None:
    if not (
        principal.address == to_checksum_address(info.requester)
        and principal.is_member
        and principal.role == "doctor"
    ):
        raise ForbiddenError(
            f"only the requesting doctor may {action} the consultation", code="not_allowed"
        )


def close_consultation(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    consultation_id: str,
    conclusion_record_id: str,
) -> dict[str, Any]:
    """The requester closes with a conclusion record of the patient."""
    cid = wf.parse_bytes32(consultation_id, "consultation_id")
    info = chain_consultation(ctx, cid)
    _require_requester(principal, info, "close")
    _require_open(ctx, cid, info, "close")
    rid = wf.parse_bytes32(conclusion_record_id, "conclusion_record_id")
    (row,) = wf.require_records(db, patient=info.patient, record_ids=[rid])
    body_cid, body_hash = row.body_cid, bytes.fromhex(row.body_sha256[2:])
    wf.release_snapshot(db)
    mined = wf.send(
        lambda: ctx.chain.workflow.close_consultation(
            actor=principal.address,
            consultation_id=bytes.fromhex(cid[2:]),
            conclusion_cid=body_cid,
            conclusion_hash=body_hash,
        )
    )
    wf.index_receipt(ctx, db, mined)
    wf.add_records(
        db, kind=KIND, workflow_id=cid, rows=[(rid, "conclusion", None, principal.address)]
    )
    return consultation_view(db, _row(db, cid))


def cancel_consultation(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    consultation_id: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """The requester withdraws an open consultation; its shared records stop being served."""
    cid = wf.parse_bytes32(consultation_id, "consultation_id")
    info = chain_consultation(ctx, cid)
    _require_requester(principal, info, "cancel")
    _require_open(ctx, cid, info, "cancel")
    code = wf.reason_bytes(reason)
    wf.release_snapshot(db)
    mined = wf.send(
        lambda: ctx.chain.workflow.cancel_consultation(
            actor=principal.address, consultation_id=bytes.fromhex(cid[2:]), reason=code
        )
    )
    wf.index_receipt(ctx, db, mined)
    return consultation_view(db, _row(db, cid))


# --------------------------------------------------------------------------- reading


def _row(db: Session, cid: str) -> Consultation:
    row = db.get(Consultation, cid)
    if row is None:
        raise NotFoundError(f"no consultation {cid}", code="consultation_not_found")
    return row


def get_consultation(
    *, ctx: AppContext, db: Session, principal: Principal, consultation_id: str
) -> dict[str, Any]:
    """For its patient, its requester, invited clinicians and auditors (403 otherwise)."""
    cid = wf.parse_bytes32(consultation_id, "consultation_id")
    row = _row(db, cid)
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
        query = query.where(
            Consultation.state == "open", Consultation.deadline > latest_block_time(ctx)
        )
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
    carried = wf.records_of(db, KIND, row.consultation_id)
    invitations = db.scalars(
        sa.select(ConsultationInvitation.institution_id)
        .where(ConsultationInvitation.consultation_id == row.consultation_id)
        .order_by(ConsultationInvitation.institution_id)
    )
    opinion_records = {r.author: r.record_id for r in carried if r.role == "opinion"}
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
        "conclusion_record_id": next(
            (r.record_id for r in carried if r.role == "conclusion"), None
        ),
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
                "record_id": opinion_records.get(o.author),
                "opinion_cid": o.opinion_cid,
                "opinion_hash": o.opinion_hash,
                "block_number": o.block_number,
                "block_time": o.block_time,
                "tx_hash": o.tx_hash,
            }
            for o in opinions
        ]
        view["history"] = wf.history(db, KIND, row.consultation_id)
    return view
