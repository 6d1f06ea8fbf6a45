"""The summary that completes a referral: whose it must be, when it must have been written.

Issue 14 ("referral summary unlocks anything"): completing a referral shares its summary back
to the requesting doctor, so the summary must be the answer the referral asked for, not any
record of the patient that the receiving side picks. The rule has two guards:

- the chain's (``Workflow.stepReferral``, action complete): the summary is an active record of
  the patient authored by the receiving institution and registered at or after the moment the
  referral was accepted (``acceptedAt`` ≤ ``registeredAt``);
- this module's, checked first so that a refusal sends nothing: the summary's author is the
  completing clinician themself (the index names the exact author, which the chain recovered
  from the registration's signature), it was registered after the acceptance (read from the
  chain, which the index may lag), and its policy admits the requesting doctor, who must read
  it.

The grant it then opens is the requesting doctor's alone
(:func:`ledger_api.services.workflow_access.may_read`), not the sending institution's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto.policy import satisfies
from ledger_api.chain.workflow import ReferralInfo
from ledger_api.principal import Principal
from ledger_api.services import auth as auth_service
from ledger_api.services import workflows as wf
from ledger_api.services.access import chain_required
from ledger_api.services.epochs import current_key_attributes

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ledger_api.context import AppContext

__all__ = ["check_summary"]


def check_summary(
    ctx: AppContext,
    db: Session,
    principal: Principal,
    info: ReferralInfo,
    summary_record_id: str | None,
) -> str:
    """The summary record id (``0x`` + 64 hex) once every rule above holds; 422 otherwise:
    ``summary_required``, ``unknown_record``/``invalid_record``, ``summary_not_yours``,
    ``summary_before_acceptance``, ``summary_not_for_sender``."""
    if not summary_record_id:
        raise wf.invalid("complete needs summary_record_id", "summary_required")
    summary = wf.parse_bytes32(summary_record_id, "summary_record_id")
    (row,) = wf.require_records(db, patient=info.patient, record_ids=[summary])
    if row.author != principal.address.lower():
        raise wf.invalid(
            "the summary must be a record the completing clinician wrote (registered by them)",
            "summary_not_yours",
            record_id=summary,
            author=row.author,
        )
    with chain_required("cannot read the summary's registration"):
        registered_at = ctx.chain.records.record_of(bytes.fromhex(summary[2:])).registered_at
    if registered_at < info.accepted_at:
        raise wf.invalid(
            f"the summary was registered at {registered_at}, before the referral was accepted "
            f"at {info.accepted_at}: write the summary of this referral",
            "summary_before_acceptance",
            record_id=summary,
            registered_at=registered_at,
            accepted_at=info.accepted_at,
        )
    requester = auth_service.principal_for(ctx=ctx, address=info.requester)
    if not satisfies(wf.record_policy(ctx, row), current_key_attributes(ctx, requester)):
        raise wf.invalid(
            "the summary's policy does not admit the requesting doctor, who must read it",
            "summary_not_for_sender",
            record_id=summary,
        )
    return summary
