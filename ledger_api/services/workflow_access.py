"""May the caller read record R of patient P because of a live referral or consultation?

Called by :func:`ledger_api.services.access.decide` for the purposes ``referral`` and
``consultation``; the decision is then logged on chain like any other. Each grant needs all of:
the index ties R to the workflow (the API's ``workflow_records`` for the records sent along;
the chain-mirrored summary id and opinion CIDs for the answers), the chain says the workflow
is in a granting state, the caller is the party the chain names, and — for the records the
patient sent along — the patient's consent for the audience policy is in force on chain.

- **referral**, records sent along (``reason``, ``shared``): an active doctor or nurse of the
  receiving institution with the receiving department's attribute, while the referral is
  requested, accepted or arrived. The summary record: the requesting doctor once the
  referral is completed (it is the answer they asked for; issue 14: not the whole sending
  institution), while they are still an active clinician of the sending institution.
- **consultation**, ``question`` and ``shared`` records: an invited clinician (institution
  invited, or attributes satisfying the invited policy) while the consultation is open and
  its deadline has not passed. An ``opinion`` record: the requesting doctor.

For these two purposes :func:`~ledger_api.services.access.decide` asks only this module (after
a consent naming the caller's address): a referral's policy consent stops granting when the
referral ends, whatever its expiry, and one relayed for a workflow whose transaction then
failed grants nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.errors import PolicyError
from crypto.policy import policy_hash, satisfies
from crypto.signing import Purpose
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.workflow import ConsultationStatus, ReferralStatus
from ledger_api.principal import Principal
from ledger_api.services.chain_time import latest_block_time
from storage.models import ConsultationOpinion, Record, Referral
from storage.models.workflow import WorkflowDetail, WorkflowRecord

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["WORKFLOW_PURPOSES", "may_read"]

WORKFLOW_PURPOSES = {Purpose.REFERRAL: "referral", Purpose.CONSULTATION: "consultation"}
_OPEN_REFERRAL = (ReferralStatus.REQUESTED, ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED)


def may_read(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record, purpose: Purpose
) -> str | None:
    """The id of a live workflow that lets ``principal`` read ``record`` for ``purpose``
    (what the read's log entry names as its justification), or None."""
    kind = WORKFLOW_PURPOSES.get(purpose)
    if kind is None or not principal.is_clinician or not principal.institution_id:
        return None
    if kind == "referral":
        summary = _summary_grants(ctx=ctx, db=db, principal=principal, record=record)
        if summary is not None:
            return summary
    if kind == "consultation":
        opinion = _opinion_grants(ctx=ctx, db=db, principal=principal, record=record)
        if opinion is not None:
            return opinion
    roles = ("reason", "shared") if kind == "referral" else ("question", "shared")
    workflow_ids = db.scalars(
        sa.select(WorkflowRecord.workflow_id).where(
            WorkflowRecord.kind == kind,
            WorkflowRecord.record_id == record.record_id,
            WorkflowRecord.role.in_(roles),
        )
    )
    check = _carried_by_referral if kind == "referral" else _shared_by_consultation
    for wid in sorted(set(workflow_ids)):
        if check(ctx=ctx, db=db, principal=principal, record=record, workflow_id=wid):
            return wid
    return None


def _policy_consent(ctx: AppContext, *, record: Record, audience: str, purpose: Purpose) -> bool:
    return ctx.chain.consents.is_allowed_for_policy(
        patient=record.patient,
        policy_hash=policy_hash(audience),
        record_id=bytes.fromhex(record.record_id[2:]),
        purpose=purpose,
    )


def _summary_grants(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record
) -> str | None:
    """The summary of a completed referral, for its requesting doctor only (found through the
    chain-mirrored ``referrals.summary_record_id``, then checked on chain): the referral's id
    is the read's justification."""
    for referral_id in db.scalars(
        sa.select(Referral.referral_id).where(Referral.summary_record_id == record.record_id)
    ):
        try:
            info = ctx.chain.workflow.referral_of(bytes.fromhex(referral_id[2:]))
        except TransactionRevertedError:
            continue
        if (
            info.status == ReferralStatus.COMPLETED
            and "0x" + info.summary_record_id.hex() == record.record_id
            and info.patient.lower() == record.patient
            and principal.address == to_checksum_address(info.requester)
            and principal.institution_id == info.from_institution
        ):
            return referral_id
    return None


def _opinion_grants(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record
) -> str | None:
    """An opinion, for the consultation's requester (the opinion's CID and hash on chain are
    the record's body CID and digest; the opinion row is chain-mirrored)."""
    for consultation_id in db.scalars(
        sa.select(ConsultationOpinion.consultation_id).where(
            ConsultationOpinion.opinion_cid == record.body_cid,
            ConsultationOpinion.opinion_hash == record.body_sha256,
        )
    ):
        try:
            info = ctx.chain.workflow.consultation_of(bytes.fromhex(consultation_id[2:]))
        except TransactionRevertedError:
            continue
        if info.patient.lower() == record.patient and principal.address == to_checksum_address(
            info.requester
        ):
            return consultation_id
    return None


def _carried_by_referral(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record, workflow_id: str
) -> bool:
    """A record the referral carries, for the receiving department while it is open."""
    try:
        info = ctx.chain.workflow.referral_of(bytes.fromhex(workflow_id[2:]))
    except TransactionRevertedError:
        return False
    if info.patient.lower() != record.patient or info.status not in _OPEN_REFERRAL:
        return False
    if principal.institution_id != info.to_institution:
        return False
    detail = db.get(WorkflowDetail, ("referral", workflow_id))
    if detail is None or not _satisfied(detail.audience_policy, principal):
        return False
    return _policy_consent(
        ctx, record=record, audience=detail.audience_policy, purpose=Purpose.REFERRAL
    )


def _shared_by_consultation(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record, workflow_id: str
) -> bool:
    """A record the consultation shares, for invited clinicians while it takes opinions."""
    cid = bytes.fromhex(workflow_id[2:])
    try:
        info = ctx.chain.workflow.consultation_of(cid)
    except TransactionRevertedError:
        return False
    if info.patient.lower() != record.patient or info.status != ConsultationStatus.OPEN:
        return False
    if latest_block_time(ctx) >= info.deadline:  # as for opinions: the deadline is exclusive
        return False
    detail = db.get(WorkflowDetail, ("consultation", workflow_id))
    if detail is None:
        return False
    invited = ctx.chain.workflow.is_invited(cid, principal.institution_id)
    if not invited:
        text = detail.invited_policy
        invited = bool(
            text and info.policy_hash == policy_hash(text) and _satisfied(text, principal)
        )
    if not invited:
        return False
    return _policy_consent(
        ctx, record=record, audience=detail.audience_policy, purpose=Purpose.CONSULTATION
    )


def _satisfied(policy: str, principal: Principal) -> bool:
    try:
        return satisfies(policy, principal.abe_attributes())
    except PolicyError:
        return False
