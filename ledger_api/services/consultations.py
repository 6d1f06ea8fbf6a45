"""Remote consultations (远程会诊): a doctor asks specialists of other institutions.

The requesting doctor invites institutions, or an attribute policy (``role:doctor and
dept:cardiology``), or both, shares a question record and other records with the patient's
consent (purpose ``consultation``) for the audience policy — ``org:<code>`` of each invited
institution ORed with the invited policy — and sets a deadline. Invited clinicians read the
shared records and each post one opinion (a record they uploaded, whose policy admits the
requester and the patient) until the deadline or the close; the requester closes with a
conclusion record, or cancels. The contract trusts the relayer's word that a caller satisfies
the invited policy; that word is this module's check of the caller's attributes.

Every write is signed by its actor (:mod:`crypto.signing.workflow`): the API rebuilds the
``ConsultationRequest`` / ``ConsultationOpinion`` / ``ConsultationClose`` /
``ConsultationCancel`` from the request (an opinion's and a conclusion's CID and digest from
the index row of the record named), checks the signature is the caller's, then relays it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.policy import normalize, policy_hash, satisfies
from crypto.signing import (
    ConsultationCancel,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    Purpose,
)
from ledger_api.chain.workflow import MAX_INVITED, ConsultationInfo, ConsultationStatus
from ledger_api.http_errors import ConflictError, ForbiddenError, NotFoundError
from ledger_api.principal import Principal
from ledger_api.services import auth as auth_service
from ledger_api.services import workflow_ledger as ledger
from ledger_api.services import workflows as wf
from ledger_api.services.access import chain_required
from ledger_api.services.consultation_queries import (
    KIND,
    chain_consultation,
    consultation_row,
    consultation_view,
    is_invited,
)
from ledger_api.services.epochs import current_key_attributes
from ledger_api.services.signed_actions import SignedAction, check_signed_by_caller
from storage.models import Consultation
from storage.models.workflow import WorkflowDetail

if TYPE_CHECKING:
    from ledger_api.context import AppContext


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
    consultation_id: str,
    signed: SignedAction,
) -> tuple[dict[str, Any], bool]:
    """Check everything, relay the consents, open the consultation: (its view, created).

    ``signed`` is the requester's signature of the :class:`ConsultationRequest` rebuilt here
    (invited institution ids ascending, the invited policy's hash, ``closes_at`` = the
    consultation's ``deadline``). The same request again answers the consultation made
    (created False)."""
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
    now = wf.chain_now(ctx)
    if not now < deadline < 2**40:
        raise wf.invalid(
            f"the deadline must be after the chain's time {now}", "invalid_deadline", now=now
        )
    question = wf.parse_bytes32(question_record_id, "question_record_id")
    shared = [r for r in wf.parse_record_ids(record_ids) if r != question]
    carried = [question, *shared]
    wf.require_records(db, patient=patient, record_ids=carried)
    audience = audience_policy(list(invited.values()), policy)
    signed_consents = wf.parse_consents(consents, audience_policy=audience)
    covering = wf.check_consents(
        ctx,
        consents=signed_consents,
        patient=patient,
        purpose=Purpose.CONSULTATION,
        audience_policy=audience,
        record_ids=carried,
    )
    detail = WorkflowDetail(
        kind=KIND, workflow_id=cid, invited_policy=policy, audience_policy=audience
    )
    links = [
        (r, "question" if r == question else "shared", covering[r], principal.address)
        for r in carried
    ]
    policy_digest = policy_hash(policy) if policy else bytes(32)
    message = ConsultationRequest(
        consultation_id=bytes.fromhex(cid[2:]),
        patient=patient,
        record_id=bytes.fromhex(question[2:]),
        invited_institutions=tuple(sorted(invited)),
        policy_hash=policy_digest,
        closes_at=deadline,
        deadline=signed.deadline,
    )
    check_signed_by_caller(
        ctx, message, signed.signature, caller=principal.address, what="consultation request"
    )
    if _exists(ctx, cid):
        expected = (
            principal.address.lower(),
            patient.lower(),
            question,
            deadline,
            "0x" + policy_digest.hex() if policy else None,
        )
        return _replay(ctx, db, cid, expected=expected, detail=detail, links=links), False
    ledger.transact(
        ctx,
        db,
        lambda: ctx.chain.workflow.request_consultation(message, signed.signature),
        first=lambda: wf.relay_consents(
            ctx=ctx, db=db, principal=principal, consents=signed_consents
        ),
    )
    ledger.add_details(db, detail=detail, links=links)
    return consultation_view(db, consultation_row(db, cid)), True


def _replay(
    ctx: AppContext,
    db: Session,
    cid: str,
    *,
    expected: tuple[str, str, str, int, str | None],
    detail: WorkflowDetail,
    links: Sequence[tuple[str, str, str | None, str | None]],
) -> dict[str, Any]:
    """A retry of a consultation the chain has (see ``referrals._replay``)."""
    ledger.release_snapshot(db)
    ledger.index_history(ctx, db, cid)
    row = db.get(Consultation, cid)
    if (
        row is None
        or (
            row.requester,
            row.patient,
            row.record_id,
            row.deadline,
            row.policy_hash,
        )
        != expected
    ):
        raise ConflictError(f"consultation {cid} exists", code="duplicate_id")
    ledger.add_details(db, detail=detail, links=links)
    return consultation_view(db, row)


def _exists(ctx: AppContext, cid: str) -> bool:
    try:
        chain_consultation(ctx, cid)
    except NotFoundError:
        return False
    return True


# --------------------------------------------------------------------------- opinions, close


def _require_open(ctx: AppContext, cid: str, info: ConsultationInfo, action: str) -> None:
    if info.status != ConsultationStatus.OPEN:
        state = info.status.name.lower()
        raise ConflictError(
            f"cannot {action}: the consultation is {state}",
            code="invalid_transition",
            details={"action": action, "state": state},
        )
    now = wf.chain_now(ctx)
    if action == "give an opinion" and now >= info.deadline:
        # the next block's time is at least ``now`` + 1 on any chain we run: past the deadline
        raise ConflictError(
            f"the consultation's deadline {info.deadline} has passed (chain time {now})",
            code="deadline_passed",
            details={"deadline": info.deadline, "now": now},
        )


def submit_opinion(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    consultation_id: str,
    record_id: str,
    signed: SignedAction,
) -> dict[str, Any]:
    """An invited clinician's opinion: a record they uploaded for the requester and patient,
    signed as a :class:`ConsultationOpinion` over its body's CID and digest."""
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
        satisfies(policy, current_key_attributes(ctx, requester))
        and (
            satisfies(policy, [f"uid:{info.patient.lower()}"])
            or wf.patient_slot_admits(ctx, row, info.patient)
        )
    ):
        raise wf.invalid(
            "the opinion's policy must admit the requesting doctor and the patient",
            "opinion_not_for_requester",
            record_id=rid,
        )
    message = ConsultationOpinion(
        consultation_id=bytes.fromhex(cid[2:]),
        opinion_cid=row.body_cid,
        opinion_hash=bytes.fromhex(row.body_sha256[2:]),
        deadline=signed.deadline,
    )
    check_signed_by_caller(ctx, message, signed.signature, caller=principal.address, what="opinion")
    ledger.transact(ctx, db, lambda: ctx.chain.workflow.submit_opinion(message, signed.signature))
    return consultation_view(db, consultation_row(db, cid))


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
    signed: SignedAction,
) -> dict[str, Any]:
    """The requester closes with a conclusion record of the patient, signed as a
    :class:`ConsultationClose` over its body's CID and digest."""
    cid = wf.parse_bytes32(consultation_id, "consultation_id")
    info = chain_consultation(ctx, cid)
    _require_requester(principal, info, "close")
    _require_open(ctx, cid, info, "close")
    rid = wf.parse_bytes32(conclusion_record_id, "conclusion_record_id")
    (row,) = wf.require_records(db, patient=info.patient, record_ids=[rid])
    message = ConsultationClose(
        consultation_id=bytes.fromhex(cid[2:]),
        conclusion_cid=row.body_cid,
        conclusion_hash=bytes.fromhex(row.body_sha256[2:]),
        deadline=signed.deadline,
    )
    check_signed_by_caller(
        ctx, message, signed.signature, caller=principal.address, what="consultation close"
    )
    ledger.transact(
        ctx, db, lambda: ctx.chain.workflow.close_consultation(message, signed.signature)
    )
    return consultation_view(db, consultation_row(db, cid))


def cancel_consultation(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    consultation_id: str,
    signed: SignedAction,
    reason: str | None = None,
) -> dict[str, Any]:
    """The requester withdraws an open consultation (a signed :class:`ConsultationCancel`);
    its shared records stop being served."""
    cid = wf.parse_bytes32(consultation_id, "consultation_id")
    info = chain_consultation(ctx, cid)
    _require_requester(principal, info, "cancel")
    _require_open(ctx, cid, info, "cancel")
    message = ConsultationCancel(
        consultation_id=bytes.fromhex(cid[2:]),
        reason=wf.reason_bytes(reason),
        deadline=signed.deadline,
    )
    check_signed_by_caller(
        ctx, message, signed.signature, caller=principal.address, what="consultation cancel"
    )
    ledger.transact(
        ctx, db, lambda: ctx.chain.workflow.cancel_consultation(message, signed.signature)
    )
    return consultation_view(db, consultation_row(db, cid))
