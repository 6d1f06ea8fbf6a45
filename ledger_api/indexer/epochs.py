"""Membership epochs in the index: ``EpochAdvanced`` rows and the triggers that call for one.

A trigger is a Consortium event after which some key in circulation holds attributes its
holder should no longer have (member suspended, removed or updated; institution suspended).
It is inserted ``ON CONFLICT (tx_hash, log_index) DO NOTHING``, so replays change nothing;
:mod:`ledger_api.services.epochs` advances the epoch for pending ones and marks them.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.sql import upsert
from storage.models import AuthorityEpoch, EpochTrigger

epochs_t = AuthorityEpoch.__table__
triggers_t = EpochTrigger.__table__

Handler = Callable[[Connection, ChainEvent], None]


def epoch_advanced(connection: Connection, e: ChainEvent) -> None:
    """Insert the epoch's row unless the watcher that sent it already did (with its text)."""
    stmt = upsert(connection, epochs_t).values(
        epoch=e.args["epoch"],
        reason=e.args["reason"],
        block_number=e.block_number,
        block_time=e.block_time or 0,
        tx_hash=e.tx_hash,
        log_index=e.log_index,
    )
    connection.execute(stmt.on_conflict_do_nothing(index_elements=["epoch"]))


def trigger(kind: str) -> Handler:
    """Record ``kind`` (``member_removed`` …) for the event's account or institution."""

    def handle(connection: Connection, e: ChainEvent) -> None:
        stmt = upsert(connection, triggers_t).values(
            kind=kind,
            account=e.args.get("account"),
            institution_id=e.args.get("institutionId"),
            block_number=e.block_number,
            tx_hash=e.tx_hash,
            log_index=e.log_index,
            epoch=None,
        )
        connection.execute(stmt.on_conflict_do_nothing(index_elements=["tx_hash", "log_index"]))

    return handle


def both(first: Handler, second: Handler) -> Handler:
    """Run two handlers for one event, in order."""

    def handle(connection: Connection, e: ChainEvent) -> None:
        first(connection, e)
        second(connection, e)

    return handle
