"""Workflow transactions and their index rows: send, map refusals, write from the receipt.

The write order of :mod:`ledger_api.services.workflows` ends here: the transaction is sent
(a revert the checks missed surfaces at gas estimation, before any transaction exists, with
the same codes as the checks), and its rows are written from the receipt through the
indexer's own handlers, so that the indexer replaying the block finds nothing to change.
Also the rows a workflow view reads back: the records it carries and its history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from ledger_api.chain.connection import rpc
from ledger_api.chain.errors import ChainError, InvalidChainInputError, TransactionRevertedError
from ledger_api.http_errors import (
    ApiError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
)
from ledger_api.indexer.apply import apply_events
from ledger_api.indexer.decode import EventDecoder
from ledger_api.services.access import chain_required
from ledger_api.services.chain_time import block_time
from ledger_api.services.workflows import invalid, reason_text
from storage.models import WorkflowTransition
from storage.models.workflow import WorkflowDetail, WorkflowRecord

if TYPE_CHECKING:
    from ledger_api.chain.contract import Mined, PendingTx
    from ledger_api.context import AppContext

# Workflow reverts → (HTTP error class, stable code); the same codes the pre-checks answer.
_REVERTS: dict[str, tuple[type[ApiError], str]] = {
    "WorkflowUnauthorized": (ForbiddenError, "not_allowed"),
    "WorkflowDuplicateId": (ConflictError, "duplicate_id"),
    "WorkflowUnknownReferral": (NotFoundError, "referral_not_found"),
    "WorkflowUnknownConsultation": (NotFoundError, "consultation_not_found"),
    "WorkflowInvalidTransition": (ConflictError, "invalid_transition"),
    "WorkflowInvalidInstitution": (UnprocessableError, "invalid_institution"),
    "WorkflowInvalidPatient": (UnprocessableError, "invalid_patient"),
    "WorkflowInvalidRecord": (UnprocessableError, "invalid_record"),
    "WorkflowInvalidDeadline": (UnprocessableError, "invalid_deadline"),
    "WorkflowInvalidInvitees": (UnprocessableError, "invalid_invitees"),
    "WorkflowDeadlinePassed": (ConflictError, "deadline_passed"),
    "WorkflowAlreadyOpined": (ConflictError, "already_opined"),
    "WorkflowInvalidDocument": (UnprocessableError, "invalid_document"),
    "WorkflowInvalidSummary": (UnprocessableError, "invalid_summary"),
    "WorkflowInvalidSignature": (UnprocessableError, "invalid_signature"),
    "WorkflowSignatureExpired": (UnprocessableError, "signature_expired"),
    "WorkflowInvalidAction": (UnprocessableError, "invalid_input"),
    "WorkflowUnexpectedArgument": (UnprocessableError, "invalid_input"),
}


def release_snapshot(db: Session) -> None:
    """End the session's read transaction before a transaction is sent and its rows written.

    On SQLite a reader whose snapshot predates another connection's commit (the indexer's,
    while we wait for the receipt) cannot become a writer ("database is locked"); nothing was
    written yet, so rolling back loses nothing. Values read before must be held in locals,
    not in ORM objects (which the rollback expires).
    """
    db.rollback()


def send(pending: Callable[[], PendingTx]) -> Mined:
    """Send and wait; Workflow's refusals become the API's codes (nothing was written)."""
    try:
        return pending().wait()
    except TransactionRevertedError as exc:
        mapped = _REVERTS.get(exc.error_name)
        if mapped is None:
            raise ServiceUnavailableError(
                f"Workflow refused: {exc}", code="chain_rejected"
            ) from exc
        cls, code = mapped
        raise cls(str(exc), code=code, details={"error": exc.error_name}) from exc
    except InvalidChainInputError as exc:
        raise invalid(str(exc), "invalid_input") from exc
    except ChainError as exc:
        raise ServiceUnavailableError(
            f"chain unavailable: {exc}", code="chain_unavailable"
        ) from exc


def transact(
    ctx: AppContext,
    db: Session,
    pending: Callable[[], PendingTx],
    *,
    first: Callable[[], None] | None = None,
) -> Mined:
    """Every workflow step's write order: end the read snapshot, run ``first`` (a create
    relays the patient's consents), send, and write the rows from the receipt."""
    release_snapshot(db)
    if first is not None:
        first()
    mined = send(pending)
    index_receipt(ctx, db, mined)
    return mined


def _decoder(ctx: AppContext) -> EventDecoder:
    address = ctx.deployment.address("Workflow")
    return EventDecoder({address: ("Workflow", ctx.chain.workflow.contract.abi)})


def index_receipt(ctx: AppContext, db: Session, mined: Mined) -> None:
    """Write the receipt's Workflow events with the indexer's handlers (idempotent with it)."""
    decoder = _decoder(ctx)
    with chain_required("the transaction is mined but its block cannot be read"):
        when = block_time(ctx, mined.block_number)
    events = [e for e in (decoder.decode(log, when) for log in mined.receipt.logs) if e]
    apply_events(db.connection(), events)


def index_history(ctx: AppContext, db: Session, workflow_id: str) -> None:
    """Write every Workflow event of ``workflow_id`` from the chain's logs (its id is the first
    indexed topic of each of them): a retry repairs the rows of a request whose answer, and
    index rows, were lost after its transaction was mined."""
    decoder = _decoder(ctx)
    params = {
        "address": ctx.deployment.address("Workflow"),
        "fromBlock": hex(ctx.deployment.block_number),
        "toBlock": "latest",
        "topics": [None, workflow_id],
    }
    with chain_required("cannot read the workflow's events"):
        logs = rpc(ctx.chain.w3, "eth_getLogs", [params])
        events = [
            e
            for e in (
                decoder.decode(log, block_time(ctx, int(log["blockNumber"], 16))) for log in logs
            )
            if e
        ]
    apply_events(db.connection(), events)


def add_records(
    db: Session,
    *,
    kind: str,
    workflow_id: str,
    rows: Iterable[tuple[str, str, str | None, str | None]],
) -> None:
    """Insert ``(record id, role, consent id, author)`` rows of a workflow (skip repeats)."""
    for record_id, role, cid, author in rows:
        exists = db.scalar(
            sa.select(WorkflowRecord.id).where(
                WorkflowRecord.kind == kind,
                WorkflowRecord.workflow_id == workflow_id,
                WorkflowRecord.record_id == record_id,
                WorkflowRecord.role == role,
            )
        )
        if exists is None:
            db.add(
                WorkflowRecord(
                    kind=kind,
                    workflow_id=workflow_id,
                    record_id=record_id,
                    role=role,
                    consent_id=cid or None,
                    author=author.lower() if author else None,
                )
            )
    db.flush()


def add_details(
    db: Session,
    *,
    detail: WorkflowDetail,
    links: Iterable[tuple[str, str, str | None, str | None]],
) -> None:
    """The API's own rows of a new workflow (kept if a retry finds them already there)."""
    if db.get(WorkflowDetail, (detail.kind, detail.workflow_id)) is None:
        db.add(detail)
    add_records(db, kind=detail.kind, workflow_id=detail.workflow_id, rows=links)


def records_of(db: Session, kind: str, workflow_id: str) -> list[WorkflowRecord]:
    query = (
        sa.select(WorkflowRecord)
        .where(WorkflowRecord.kind == kind, WorkflowRecord.workflow_id == workflow_id)
        .order_by(WorkflowRecord.id)
    )
    return list(db.scalars(query))


def history(db: Session, kind: str, workflow_id: str) -> list[dict[str, Any]]:
    """Every transition of the workflow in chain order, each with its transaction."""
    query = (
        sa.select(WorkflowTransition)
        .where(WorkflowTransition.kind == kind, WorkflowTransition.workflow_id == workflow_id)
        .order_by(WorkflowTransition.block_number, WorkflowTransition.log_index)
    )
    return [
        {
            "event": t.event,
            "state": t.to_state,
            "actor": to_checksum_address(t.actor),
            "reason": t.reason,
            "reason_text": reason_text(t.reason),
            "block_number": t.block_number,
            "block_time": t.block_time,
            "tx_hash": t.tx_hash,
        }
        for t in db.scalars(query)
    ]
