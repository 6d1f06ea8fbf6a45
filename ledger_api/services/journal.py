"""The journal of relayed calls: what the healer sends again after a chain rollback.

Consents, revocations, access entries and workflow steps carry their actor's signature in their
calldata, so keeping ``(tx_hash, target, calldata, gas)`` is enough to send them again, as they
are, if the chain forgets them (:mod:`ledger_api.services.healer`). Records are not journalled:
their row and pinned blocks are their journal. Kept apart from the healer so that the
application context can wire it into the relayer without importing the services.

On SQLite the rows are written by a short-lived background thread instead of the caller: a
call is relayed from inside the request's own writing transaction, and SQLite has one writer
at a time, so a second writing connection opened by the same thread would wait for the first
to end — which it never does while its thread waits (a self-deadlock bounded only by the busy
timeout). PostgreSQL inserts into the journal concurrently, so there the caller writes it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from storage.models import RelayedCall

__all__ = ["flush_journal", "journal_calls"]

log = logging.getLogger("ledger_api.healer")

IDLE_EXIT_SECONDS = 1.0  # a flusher with nothing to write for this long ends


class _Flusher:
    """One background writer per SQLite engine, alive while there is something to write."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.rows: queue.Queue[list[dict[str, Any]]] = queue.Queue()
        self.idle = threading.Event()
        self.idle.set()
        self.thread: threading.Thread | None = None


_flushers: dict[int, _Flusher] = {}
_flushers_lock = threading.Lock()


def journal_calls(
    engine: sa.Engine,
    *,
    registry: str,
    relayer: str,
    calls: Sequence[tuple[str, str, bytes, int]],
) -> None:
    """Keep ``(tx_hash, to, calldata, gas)`` of relayed calls (records, sent to ``registry``,
    excluded). A failure is logged, not raised: the action itself went out."""
    rows = [
        {
            "tx_hash": tx_hash,
            "relayer": relayer,
            "target": to,
            "data": data,
            "gas": gas,
            "sent_at": time.time(),
            "state": "sent",
            "sends": 1,
        }
        for tx_hash, to, data, gas in calls
        if to.lower() != registry.lower()
    ]
    if not rows:
        return
    if engine.dialect.name == "sqlite":
        _enqueue(engine, rows)
    else:
        _write(engine, rows)


def flush_journal(engine: sa.Engine, timeout: float = 5.0) -> bool:
    """Wait until the rows handed to the SQLite flusher are written; True when they are."""
    with _flushers_lock:
        flusher = _flushers.get(id(engine))
    return True if flusher is None else flusher.idle.wait(timeout)


def _write(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(RelayedCall.__table__), rows)
    except sa.exc.SQLAlchemyError:
        log.exception("could not journal %d relayed call(s)", len(rows))


def _enqueue(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    with _flushers_lock:
        flusher = _flushers.get(id(engine))
        if flusher is None or flusher.engine is not engine:
            flusher = _flushers[id(engine)] = _Flusher(engine)
        flusher.idle.clear()
        flusher.rows.put(rows)
        if flusher.thread is None:
            flusher.thread = threading.Thread(
                target=_run, args=(flusher,), name="medledger-journal", daemon=True
            )
            flusher.thread.start()


def _run(flusher: _Flusher) -> None:
    while True:
        try:
            batch = flusher.rows.get(timeout=IDLE_EXIT_SECONDS)
        except queue.Empty:
            with _flushers_lock:
                if flusher.rows.empty():  # nothing arrived meanwhile: end, a new put restarts
                    flusher.thread = None
                    flusher.idle.set()
                    if _flushers.get(id(flusher.engine)) is flusher:
                        del _flushers[id(flusher.engine)]
                    return
            continue
        while True:  # one transaction for everything waiting
            try:
                batch += flusher.rows.get_nowait()
            except queue.Empty:
                break
        _write(flusher.engine, batch)
        with _flushers_lock:
            if flusher.rows.empty():
                flusher.idle.set()
