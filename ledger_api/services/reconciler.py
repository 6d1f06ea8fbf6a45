"""Start-up reconciler: settle every ``pending`` record left by a crash or a lost receipt.

A ``pending`` row means the blocks were stored and the registration may or may not have
reached the chain. For each such row, the chain is asked first, because it is the truth:

1. **registered** (``RecordRegistered`` for the id exists) → the row takes the event's values
   and becomes ``confirmed`` (if the event carries other content — another uploader won the
   id — the row is overwritten with the chain's content, as the indexer would, and the blocks
   of the lost upload are released);
2. **not registered, blocks present and intact** → register now (the id makes it idempotent),
   then ``confirmed``; a revert makes it ``failed``;
3. **not registered, a block missing or damaged** → ``failed``, nothing registered, because an
   on-chain record must never point at a block nobody holds.

The reconciler only touches rows that are ``pending`` when it starts, each in its own
transaction, so it is safe to run on every start and alongside the indexer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.chain.connection import rpc
from ledger_api.chain.contract import Event, event_decoder
from ledger_api.chain.errors import ChainError, TransactionRevertedError
from ledger_api.services.registration import signed_registration
from ledger_api.services.unhealed import note_unhealed
from storage.errors import NotPinnedError, StorageError
from storage.models import Record, RetainedBlock, clamp_uint64

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = [
    "ReconcileReport",
    "confirm_from_chain",
    "find_registration",
    "mark_confirmed",
    "reconcile_pending",
    "release_blocks",
]

log = logging.getLogger("ledger_api.reconciler")

RECEIPT_TIMEOUT = 60.0


@dataclass
class ReconcileReport:
    """What one run did, by record id (lowercase 0x hex)."""

    confirmed: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left_pending: list[str] = field(default_factory=list)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def mark_confirmed(row: Record, event: Event) -> None:
    """Copy a ``RecordRegistered`` event into ``row`` and mark it ``confirmed``."""
    args = event.args
    row.patient = args["patient"]
    row.author = args["author"]
    row.author_institution = int(args["authorInstitution"])
    row.body_cid = args["bodyCid"]
    if row.header_cid != args["headerCid"]:
        row.epoch = None  # derived again from the header the chain names
    row.header_cid = args["headerCid"]
    row.body_sha256 = _hex(args["bodyHash"])
    row.policy_hash = _hex(args["policyHash"])
    row.record_type = _hex(args["recordType"])
    row.registered_at = clamp_uint64(int(args["registeredAt"]))
    row.tx_hash = event.tx_hash
    row.block_number = event.block_number
    row.log_index = event.log_index
    row.updated_block = event.block_number
    row.updated_log_index = event.log_index
    row.state = "confirmed"


def find_registration(*, ctx: AppContext, record_id: str) -> Event | None:
    """The ``RecordRegistered`` event of ``record_id`` (0x hex), or None when unregistered."""
    records = ctx.chain.records
    decoder = event_decoder()
    params = {
        "address": records.address,
        "topics": [decoder.topic("RecordRegistered"), record_id.lower()],
        "fromBlock": hex(ctx.chain.deployment.block_number),
        "toBlock": "latest",
    }
    for raw in rpc(ctx.chain.w3, "eth_getLogs", [params]) or []:
        event = decoder.decode(raw)
        if event is not None and event.name == "RecordRegistered":
            return event
    return None


def confirm_from_chain(*, ctx: AppContext, db: Session, row: Record) -> bool:
    """Settle ``row`` from its on-chain registration (which must exist).

    Returns True when the chain holds the row's own content; False when another upload won
    the id, in which case the row now holds the chain's content and the blocks of the losing
    upload are released. The caller commits."""
    event = find_registration(ctx=ctx, record_id=row.record_id)
    if event is None:
        raise ChainError(f"record {row.record_id} is not registered on chain")
    ours = (row.body_cid, row.header_cid)
    same = (
        event.args["bodyCid"] == row.body_cid
        and event.args["headerCid"] == row.header_cid
        and _hex(event.args["bodyHash"]) == row.body_sha256
        and _hex(event.args["policyHash"]) == row.policy_hash
        and event.args["patient"].lower() == row.patient
    )
    mark_confirmed(row, event)
    if not same:
        db.flush()
        release_blocks(ctx=ctx, db=db, cids=ours, record_id=None)
    return same


def release_blocks(
    *, ctx: AppContext, db: Session, cids: Iterable[str], record_id: str | None
) -> list[str]:
    """Unpin each CID that no live record (pending or confirmed, other than ``record_id``)
    references and no retention keeps (a re-key's replaced blocks, kept for the audit:
    :mod:`ledger_api.services.retention`); the block store's gc removes them later. Returns
    the CIDs unpinned."""
    released: list[str] = []
    now = int(time.time())
    for cid in dict.fromkeys(cids):
        query = sa.select(sa.func.count()).where(
            Record.state.in_(("pending", "confirmed")),
            sa.or_(Record.body_cid == cid, Record.header_cid == cid),
        )
        if record_id is not None:
            query = query.where(Record.record_id != record_id)
        retained = sa.select(sa.func.count()).where(
            RetainedBlock.cid == cid, RetainedBlock.retain_until > now
        )
        if db.scalar(query) or db.scalar(retained):
            continue
        try:
            ctx.store.unpin(cid)
        except NotPinnedError:
            continue
        except StorageError:
            log.warning("could not unpin %s", cid, exc_info=True)
            continue
        released.append(cid)
    return released


def _blocks_intact(ctx: AppContext, row: Record) -> bool:
    for cid in (row.body_cid, row.header_cid):
        try:
            ctx.store.verify(cid)
        except StorageError:
            return False
    return True


def _slot_without_event(ctx: AppContext, db: Session, row: Record) -> None:
    """The registry's storage says the id exists but no ``RecordRegistered`` event does: the
    node lost the block holding it and kept the slot. Its CIDs and digest lived only in the
    event, so the id cannot be registered again; the row fails, its blocks stay pinned, and
    ``/audit/verify`` lists it with the repair."""
    row.state = "failed"
    note_unhealed(
        ctx,
        kind="record",
        key=row.record_id,
        reason="slot_without_event",
        repair=(
            "RecordRegistry has the id but the chain lost its RecordRegistered event; blocks "
            f"still pinned: body {row.body_cid}, header {row.header_cid}. Repair: share the "
            "record again under a new id (a new signed registration), or restore the chain "
            "node from a state holding the registration's block"
        ),
    )


def _settle(ctx: AppContext, db: Session, row: Record, report: ReconcileReport) -> None:
    if ctx.chain.records.exists(bytes.fromhex(row.record_id[2:])):
        if find_registration(ctx=ctx, record_id=row.record_id) is None:
            _slot_without_event(ctx, db, row)
            report.failed.append(row.record_id)
            return
        if confirm_from_chain(ctx=ctx, db=db, row=row):
            report.confirmed.append(row.record_id)
        else:
            report.failed.append(row.record_id)  # the id belongs to other content
        return
    if not _blocks_intact(ctx, row) or row.registration_signature is None:
        # no blocks to register, or (a row written before registrations were signed) no
        # author's signature the chain would accept
        row.state = "failed"
        report.failed.append(row.record_id)
        db.flush()
        release_blocks(ctx=ctx, db=db, cids=(row.body_cid, row.header_cid), record_id=None)
        return
    try:
        pending = ctx.chain.records.register(*signed_registration(row))
        mined = pending.wait(timeout=RECEIPT_TIMEOUT)
    except TransactionRevertedError as exc:
        if exc.error_name == "RecordRegistryDuplicateId":
            # An earlier send of this very registration was still in flight and got mined.
            if confirm_from_chain(ctx=ctx, db=db, row=row):
                report.confirmed.append(row.record_id)
            else:
                report.failed.append(row.record_id)
            return
        log.warning("reconciler: registration of %s reverted: %s", row.record_id, exc)
        if row.tx_hash is not None:  # it was on chain once: acknowledged, then rolled back
            note_unhealed(
                ctx,
                kind="record",
                key=row.record_id,
                reason=f"reregistration_reverted:{exc.error_name}"[:64],
                repair=(
                    f"{row.record_id} was registered in {row.tx_hash}, erased by a chain "
                    f"rollback, and its stored registration now reverts ({exc.error_name}; "
                    "e.g. the signed deadline passed): the author must share it again"
                ),
            )
        row.state = "failed"
        report.failed.append(row.record_id)
        db.flush()
        release_blocks(ctx=ctx, db=db, cids=(row.body_cid, row.header_cid), record_id=None)
        return
    mark_confirmed(row, mined.event("RecordRegistered"))
    report.registered.append(row.record_id)


def reconcile_pending(*, ctx: AppContext, older_than: float | None = None) -> ReconcileReport:
    """Finish or fail every ``pending`` row (see the module docstring); one transaction each.

    With ``older_than`` (seconds) only rows created that long ago: the healer's periodic
    pass leaves a share that is still waiting for its own receipt alone. A row whose chain
    call fails for a transient reason (node down, receipt timeout) stays ``pending`` for the
    next run; the others are settled."""
    report = ReconcileReport()
    query = sa.select(Record.record_id).where(Record.state == "pending")
    if older_than is not None:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        query = query.where(Record.created_at < cutoff)
    with ctx.sessions() as db:
        ids = list(db.scalars(query))
    for record_id in ids:
        with ctx.sessions() as db:
            row = db.get(Record, record_id)
            if row is None or row.state != "pending":
                continue
            db.commit()  # end the read transaction (see records.share_record)
            try:
                _settle(ctx, db, row, report)
                db.commit()
            except ChainError as exc:
                db.rollback()
                log.warning("reconciler: %s left pending: %s", record_id, exc)
                report.left_pending.append(record_id)
    if ids:
        log.info(
            "reconciler: %d confirmed, %d registered, %d failed, %d left pending",
            len(report.confirmed),
            len(report.registered),
            len(report.failed),
            len(report.left_pending),
        )
    return report
