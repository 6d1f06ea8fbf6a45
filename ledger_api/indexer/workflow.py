"""Workflow events: referrals and consultations, their transitions and opinions.

Each state event updates the workflow's row (guarded by position) and appends one row to
``workflow_transitions`` (unique on tx hash and log index), so the history survives replays
without duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.sql import (
    guarded_update,
    or_none,
    position,
    upsert,
    upsert_if_newer,
)
from storage.models import (
    Consultation,
    ConsultationInvitation,
    ConsultationOpinion,
    Referral,
    WorkflowTransition,
    clamp_uint64,
)
from storage.models.types import ZERO_BYTES32

referrals_t = Referral.__table__
consultations_t = Consultation.__table__
invitations_t = ConsultationInvitation.__table__
opinions_t = ConsultationOpinion.__table__
transitions_t = WorkflowTransition.__table__

Handler = Callable[[Connection, ChainEvent], None]


def _transition(
    connection: Connection, e: ChainEvent, kind: str, workflow_id: str, state: str
) -> None:
    reason = e.args.get("reason")
    stmt = upsert(connection, transitions_t).values(
        kind=kind,
        workflow_id=workflow_id,
        event=e.name,
        to_state=state,
        actor=e.args.get("actor") or e.args.get("requester"),
        reason=reason,
        block_number=e.block_number,
        block_time=e.block_time,
        tx_hash=e.tx_hash,
        log_index=e.log_index,
    )
    connection.execute(stmt.on_conflict_do_nothing(index_elements=["tx_hash", "log_index"]))


def referral_requested(connection: Connection, e: ChainEvent) -> None:
    rid = e.args["referralId"]
    values = {
        "referral_id": rid,
        "patient": e.args["patient"],
        "from_institution": e.args["fromInstitution"],
        "to_institution": e.args["toInstitution"],
        "requester": e.args["requester"],
        "record_id": or_none(e.args["recordId"], ZERO_BYTES32),
        "reason": or_none(e.args["reason"], ZERO_BYTES32),
        "state": "requested",
        "created_at": e.block_time,
        "updated_at": e.block_time,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **position(e),
    }
    stmt = upsert_if_newer(connection, referrals_t, key="referral_id", values=values, event=e)
    connection.execute(stmt)
    _transition(connection, e, "referral", rid, "requested")


def referral(state: str, extra: Callable[[ChainEvent], dict[str, Any]] | None = None) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        rid = e.args["referralId"]
        values = {"state": state, "updated_at": e.block_time, **(extra(e) if extra else {})}
        guarded_update(connection, referrals_t, referrals_t.c.referral_id == rid, e, values)
        _transition(connection, e, "referral", rid, state)

    return handle


def consultation_requested(connection: Connection, e: ChainEvent) -> None:
    cid = e.args["consultationId"]
    values = {
        "consultation_id": cid,
        "patient": e.args["patient"],
        "requester": e.args["requester"],
        "requester_institution": e.args["requesterInstitution"],
        "record_id": or_none(e.args["recordId"], ZERO_BYTES32),
        "policy_hash": or_none(e.args["policyHash"], ZERO_BYTES32),
        "deadline": clamp_uint64(e.args["deadline"]),
        "state": "open",
        "created_at": e.block_time,
        "updated_at": e.block_time,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **position(e),
    }
    stmt = upsert_if_newer(
        connection, consultations_t, key="consultation_id", values=values, event=e
    )
    connection.execute(stmt)
    invited = sorted(set(e.args["invitedInstitutions"]))
    if invited:
        connection.execute(
            upsert(connection, invitations_t).on_conflict_do_nothing(),
            [{"consultation_id": cid, "institution_id": i} for i in invited],
        )
    _transition(connection, e, "consultation", cid, "open")


def opinion(connection: Connection, e: ChainEvent) -> None:
    stmt = upsert(connection, opinions_t).values(
        consultation_id=e.args["consultationId"],
        author=e.args["author"],
        institution_id=e.args["institutionId"],
        opinion_cid=e.args["opinionCid"],
        opinion_hash=e.args["opinionHash"],
        block_number=e.block_number,
        block_time=e.block_time,
        tx_hash=e.tx_hash,
        log_index=e.log_index,
    )
    connection.execute(stmt.on_conflict_do_nothing(index_elements=["tx_hash", "log_index"]))


def consultation(
    state: str, extra: Callable[[ChainEvent], dict[str, Any]] | None = None
) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        cid = e.args["consultationId"]
        values = {"state": state, "updated_at": e.block_time, **(extra(e) if extra else {})}
        where = consultations_t.c.consultation_id == cid
        guarded_update(connection, consultations_t, where, e, values)
        _transition(connection, e, "consultation", cid, state)

    return handle
