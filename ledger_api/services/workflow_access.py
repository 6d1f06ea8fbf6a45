"""May the caller read record R of patient P because of a live referral or consultation?

Called by :func:`ledger_api.services.access.decide` for the purposes ``referral`` and
``consultation``; the decision is then logged on chain like any other. Each grant needs all of:
the index says the workflow carries R (in a role that grants), the chain says the workflow is
in a granting state, the caller is the party the chain names, and — for the records the
patient sent along — the patient's consent for the audience policy is in force on chain.

- **referral**, records sent along (``reason``, ``shared``): an active doctor or nurse of the
  receiving institution with the receiving department's attribute, while the referral is
  requested, accepted or arrived. The summary record: clinicians of the sending institution
  once the referral is completed (it is the answer the referral asked for).
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

from crypto.errors import PolicyError
from crypto.policy import policy_hash, satisfies
from crypto.signing import Purpose
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.workflow import ConsultationStatus, ReferralStatus
from ledger_api.principal import Principal
from ledger_api.services.chain_time import latest_block_time
from storage.models import Record
from storage.models.workflow import WorkflowDetail, WorkflowRecord

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["WORKFLOW_PURPOSES", "may_read"]

WORKFLOW_PURPOSES = {Purpose.REFERRAL: "referral", Purpose.CONSULTATION: "consultation"}
_OPEN_REFERRAL = (ReferralStatus.REQUESTED, ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED)


def may_read(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record, purpose: Purpose
) -> bool:
    """True when a live workflow lets ``principal`` read ``record`` for ``purpose``."""
    kind = WORKFLOW_PURPOSES.get(purpose)
    if kind is None or not principal.is_clinician or not principal.institution_id:
        return False
    links = db.scalars(
        sa.select(WorkflowRecord).where(
            WorkflowRecord.kind == kind, WorkflowRecord.record_id == record.record_id
        )
    )
    check = _referral_grants if kind == "referral" else _consultation_grants
    return any(
        check(ctx=ctx, db=db, principal=principal, record=record, link=link) for link in links
    )


def _policy_consent(ctx: AppContext, *, record: Record, audience: str, purpose: Purpose) -> bool:
    return ctx.chain.consents.is_allowed_for_policy(
        patient=record.patient,
        policy_hash=policy_hash(audience),
        record_id=bytes.fromhex(record.record_id[2:]),
        purpose=purpose,
    )


def _referral_grants(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record, link: WorkflowRecord
) -> bool:
    try:
        info = ctx.chain.workflow.referral_of(bytes.fromhex(link.workflow_id[2:]))
    except TransactionRevertedError:
        return False
    if info.patient.lower() != record.patient:
        return False
    if link.role == "summary":
        return (
            info.status == ReferralStatus.COMPLETED
            and "0x" + info.summary_record_id.hex() == record.record_id
            and principal.institution_id == info.from_institution
        )
    if link.role not in ("reason", "shared") or info.status not in _OPEN_REFERRAL:
        return False
    if principal.institution_id != info.to_institution:
        return False
    detail = db.get(WorkflowDetail, ("referral", link.workflow_id))
    if detail is None or not _satisfied(detail.audience_policy, principal):
        return False
    return _policy_consent(
        ctx, record=record, audience=detail.audience_policy, purpose=Purpose.REFERRAL
    )


def _consultation_grants(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record, link: WorkflowRecord
) -> bool:
    cid = bytes.fromhex(link.workflow_id[2:])
    try:
        info = ctx.chain.workflow.consultation_of(cid)
    except TransactionRevertedError:
        return False
    if info.patient.lower() != record.patient:
        return False
    if link.role == "opinion":
        return principal.address.lower() == info.requester.lower()
    if link.role not in ("question", "shared") or info.status != ConsultationStatus.OPEN:
        return False
    if latest_block_time(ctx) >= info.deadline:  # as for opinions: the deadline is exclusive
        return False
    detail = db.get(WorkflowDetail, ("consultation", link.workflow_id))
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
