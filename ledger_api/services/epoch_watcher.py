"""The epoch watcher: pending membership changes become one ``EpochAdvanced`` per block.

The indexer records each membership change as a pending ``epoch_triggers`` row
(:mod:`ledger_api.indexer.epochs`); this thread of the API (only an API holding the key
authority runs it: the relayer sends the advance) handles the pending triggers of the oldest
block with any as one advance, and marks them. Idempotent and crash-safe: the reason sent on
chain is the SHA-256 of the triggers' description and is looked up on chain before sending,
and the triggers are marked in the same transaction as the epoch row is written, so a crash
between the mined advance and the database write never advances twice; a concurrent advance
by another replica reverts on chain (``epoch == currentEpoch + 1``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ledger_api.chain.errors import ChainError
from ledger_api.indexer.sql import upsert
from storage.errors import StorageError
from storage.models import AuthorityEpoch, EpochTrigger

if TYPE_CHECKING:
    from ledger_api.context import AppContext

log = logging.getLogger("ledger_api.epochs")


@dataclass(frozen=True)
class Advance:
    epoch: int
    reason: str
    reason_text: str
    tx_hash: str
    block_number: int
    triggers: int


def _describe(triggers: list[EpochTrigger]) -> str:
    parts = [
        f"{t.kind} {t.account or ''}{'' if t.institution_id is None else f' #{t.institution_id}'}"
        for t in triggers
    ]
    return f"block {triggers[0].block_number}: " + "; ".join(p.strip() for p in parts)


def _hex(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes | bytearray) else str(value).lower()


def _logged_advance(ctx: AppContext, reason: bytes) -> tuple[int, str, int, int] | None:
    """``(epoch, tx, block, log index)`` of an ``EpochAdvanced`` with ``reason`` on chain."""
    event = ctx.chain.access_log.contract.events.EpochAdvanced
    logs = event.get_logs(
        from_block=ctx.deployment.block_number, argument_filters={"reason": reason}
    )
    for entry in logs:
        return (
            int(entry["args"]["epoch"]),
            _hex(entry["transactionHash"]),
            int(entry["blockNumber"]),
            int(entry["logIndex"]),
        )
    return None


def advance_pending(ctx: AppContext) -> Advance | None:
    """Handle the pending triggers of the oldest block with any: one epoch advance.

    Idempotent and crash-safe: the reason is derived from the triggers, an advance already on
    chain with that reason is reused, and the triggers are marked in the same transaction as
    the epoch row is written."""
    with ctx.sessions() as db:
        pending = list(
            db.scalars(
                sa.select(EpochTrigger)
                .where(EpochTrigger.epoch.is_(None))
                .order_by(EpochTrigger.block_number, EpochTrigger.log_index)
            )
        )
        if not pending:
            return None
        batch = [t for t in pending if t.block_number == pending[0].block_number]
        ids = [t.id for t in batch]
        text = _describe(batch)
    reason = hashlib.sha256(text.encode("utf-8")).digest()
    logged = _logged_advance(ctx, reason)
    if logged is None:
        access_log = ctx.chain.access_log
        mined = access_log.log_epoch_advanced(
            epoch=access_log.current_epoch() + 1, reason=reason
        ).wait()
        event = mined.event("EpochAdvanced")
        logged = (int(event.args["epoch"]), mined.tx_hash, mined.block_number, event.log_index)
    epoch, tx_hash, block_number, log_index = logged
    when = int(ctx.chain.w3.eth.get_block(block_number)["timestamp"])
    with ctx.sessions.begin() as db:
        table = AuthorityEpoch.__table__
        stmt = upsert(db.connection(), table).values(
            epoch=epoch,
            reason="0x" + reason.hex(),
            reason_text=text,
            block_number=block_number,
            block_time=when,
            tx_hash=tx_hash.lower(),
            log_index=log_index,
        )
        db.execute(
            stmt.on_conflict_do_update(
                index_elements=["epoch"], set_={"reason_text": stmt.excluded.reason_text}
            )
        )
        db.execute(sa.update(EpochTrigger).where(EpochTrigger.id.in_(ids)).values(epoch=epoch))
    log.info("epoch advanced", extra={"epoch": epoch, "reason": text, "tx_hash": tx_hash})
    return Advance(
        epoch=epoch,
        reason="0x" + reason.hex(),
        reason_text=text,
        tx_hash=tx_hash,
        block_number=block_number,
        triggers=len(ids),
    )


def advance_all(ctx: AppContext) -> list[Advance]:
    """Advance for every pending block of triggers, oldest first."""
    done: list[Advance] = []
    while (step := advance_pending(ctx)) is not None:
        done.append(step)
    return done


def start_epoch_watcher(ctx: AppContext, *, poll_interval: float) -> None:
    """Advance the epoch for new membership changes, on a daemon thread until shutdown.

    Only an API holding the key authority runs it (the relayer sends the advance)."""

    def run() -> None:
        while not ctx.stop_event.is_set():
            try:
                advance_all(ctx)
            except (ChainError, StorageError, sa.exc.SQLAlchemyError, KeyError) as exc:
                log.warning("epoch watcher pass failed, retrying: %s", exc)
            except Exception:  # a bug must not kill the API; say it loudly and retry
                log.exception("epoch watcher pass failed")
            ctx.stop_event.wait(poll_interval)

    thread = threading.Thread(target=run, name="medledger-epochs", daemon=True)
    thread.start()
    ctx.background.append(thread)
