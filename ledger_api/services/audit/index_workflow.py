"""``Workflow`` events against the index: referrals, consultations, transitions, opinions.

Referrals and consultations are state rows (:class:`~.index_common.Tracked`): the request
event sets the fixed columns, each step the state and the columns it carries (a rejection's
reason, a completion's summary, a closing's conclusion). Every step is also one row of
``workflow_transitions`` and every opinion one row of ``consultation_opinions``: append-only,
matched by position. The columns mirror :mod:`ledger_api.indexer.workflow` one for one; the
API-only details (``workflow_details``, ``workflow_records``) are not on chain and not checked.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.sql import or_none
from ledger_api.services.audit.index_common import IndexComparer, Pairs, Tracked, id_chunks
from storage.models import (
    Consultation,
    ConsultationInvitation,
    ConsultationOpinion,
    Referral,
    WorkflowTransition,
    clamp_uint64,
)
from storage.models.types import ZERO_BYTES32

__all__ = ["WorkflowChecks"]


def _referral_fixed(e: ChainEvent) -> dict[str, Any]:
    a = e.args
    return {
        "patient": a["patient"],
        "from_institution": a["fromInstitution"],
        "to_institution": a["toInstitution"],
        "requester": a["requester"],
        "record_id": or_none(a["recordId"], ZERO_BYTES32),
        "reason": or_none(a["reason"], ZERO_BYTES32),
        "created_at": e.block_time,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
    }


def _step(state: str, **columns: str) -> Any:
    """The columns a step event sets: its state, its time, and ``column=argument`` pairs."""

    def values(e: ChainEvent) -> dict[str, Any]:
        out = {"state": state, "updated_at": e.block_time}
        out.update({column: e.args[arg] for column, arg in columns.items()})
        return out

    return values


REFERRALS = Tracked(
    kind="referral",
    model=Referral,
    key="referral_id",
    key_arg="referralId",
    creation="ReferralRequested",
    fixed=_referral_fixed,
    states={
        "ReferralRequested": lambda e: {
            "state": "requested",
            "updated_at": e.block_time,
            "summary_record_id": None,
            "closing_reason": None,
        },
        "ReferralAccepted": _step("accepted"),
        "ReferralRejected": _step("rejected", closing_reason="reason"),
        "ReferralArrived": _step("arrived"),
        "ReferralCompleted": _step("completed", summary_record_id="summaryRecordId"),
        "ReferralCancelled": _step("cancelled", closing_reason="reason"),
    },
)


def _consultation_fixed(e: ChainEvent) -> dict[str, Any]:
    a = e.args
    return {
        "patient": a["patient"],
        "requester": a["requester"],
        "requester_institution": a["requesterInstitution"],
        "record_id": or_none(a["recordId"], ZERO_BYTES32),
        "policy_hash": or_none(a["policyHash"], ZERO_BYTES32),
        "deadline": clamp_uint64(a["deadline"]),
        "invited": sorted(set(a["invitedInstitutions"])),
        "created_at": e.block_time,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
    }


def _invited(db: Session, ids: list[Any]) -> dict[Any, dict[str, Any]]:
    """Each consultation's invited institutions, from ``consultation_invitations``."""
    found: dict[Any, dict[str, Any]] = {key: {"invited": []} for key in ids}
    for chunk in id_chunks(ids):
        rows = db.execute(
            sa.select(ConsultationInvitation.consultation_id, ConsultationInvitation.institution_id)
            .where(ConsultationInvitation.consultation_id.in_(chunk))
            .order_by(ConsultationInvitation.institution_id)
        )
        for consultation_id, institution_id in rows:
            found[consultation_id]["invited"].append(int(institution_id))
    return found


CONSULTATIONS = Tracked(
    kind="consultation",
    model=Consultation,
    key="consultation_id",
    key_arg="consultationId",
    creation="ConsultationRequested",
    fixed=_consultation_fixed,
    states={
        "ConsultationRequested": lambda e: {
            "state": "open",
            "updated_at": e.block_time,
            "conclusion_cid": None,
            "conclusion_hash": None,
            "opinion_count": None,
            "closing_reason": None,
        },
        "ConsultationClosed": _step(
            "closed",
            conclusion_cid="conclusionCid",
            conclusion_hash="conclusionHash",
            opinion_count="opinionCount",
        ),
        "ConsultationCancelled": _step("cancelled", closing_reason="reason"),
    },
    derived=_invited,
)

# event → (kind, id argument, state it moves to): the events that are transitions
_TRANSITIONS: dict[str, tuple[str, str, str]] = {
    "ReferralRequested": ("referral", "referralId", "requested"),
    "ReferralAccepted": ("referral", "referralId", "accepted"),
    "ReferralRejected": ("referral", "referralId", "rejected"),
    "ReferralArrived": ("referral", "referralId", "arrived"),
    "ReferralCompleted": ("referral", "referralId", "completed"),
    "ReferralCancelled": ("referral", "referralId", "cancelled"),
    "ConsultationRequested": ("consultation", "consultationId", "open"),
    "ConsultationClosed": ("consultation", "consultationId", "closed"),
    "ConsultationCancelled": ("consultation", "consultationId", "cancelled"),
}


class WorkflowChecks(IndexComparer):
    """One chunk of ``Workflow`` events."""

    def run(self, events: list[ChainEvent], low: int, high: int) -> None:
        mine = [e for e in events if e.contract == "Workflow"]
        self.tracked(REFERRALS, mine, low, high)
        self.tracked(CONSULTATIONS, mine, low, high)
        steps = [e for e in mine if e.name in _TRANSITIONS]
        self.positional("workflow_transition", WorkflowTransition, steps, low, high, _transition)
        opinions = [e for e in mine if e.name == "ConsultationOpinionSubmitted"]
        self.positional("opinion", ConsultationOpinion, opinions, low, high, _opinion)


def _transition(e: ChainEvent, row: WorkflowTransition) -> Pairs:
    kind, id_arg, state = _TRANSITIONS[e.name]
    return [
        ("kind", kind, row.kind),
        ("workflow_id", e.args[id_arg], row.workflow_id),
        ("event", e.name, row.event),
        ("to_state", state, row.to_state),
        ("actor", e.args.get("actor") or e.args.get("requester"), row.actor),
        ("reason", e.args.get("reason"), row.reason),
        ("block_number", e.block_number, row.block_number),
        ("block_time", e.block_time, row.block_time),
    ]


def _opinion(e: ChainEvent, row: ConsultationOpinion) -> Pairs:
    a = e.args
    return [
        ("consultation_id", a["consultationId"], row.consultation_id),
        ("author", a["author"], row.author),
        ("institution_id", a["institutionId"], row.institution_id),
        ("opinion_cid", a["opinionCid"], row.opinion_cid),
        ("opinion_hash", a["opinionHash"], row.opinion_hash),
        ("block_number", e.block_number, row.block_number),
        ("block_time", e.block_time, row.block_time),
    ]
