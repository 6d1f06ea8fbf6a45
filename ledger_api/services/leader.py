"""One holder at a time across API processes: who runs the indexer and the healer.

Several API processes share one database (docs/deployment.md); the indexer, the healer and
the periodic reconciler must run in exactly one of them, and another must take over within
seconds when that one dies, whatever killed it (``kill -9`` included).

- **PostgreSQL**: a session-level ``pg_try_advisory_lock`` on a connection kept open for the
  purpose. The server releases it the instant that connection ends (process killed, backend
  terminated), so a standby's next try, one poll later, wins. Each :meth:`Leadership.acquire`
  of the holder checks its connection still answers; if the backend was terminated the lock
  is gone with it and the holder steps down before doing any work.
- **SQLite** (one machine, several processes): a lease row renewed by its holder; a standby
  takes it once ``expires_at`` passed. A conditional ``UPDATE … WHERE holder = me OR
  expires_at < now`` is atomic, so two standbys never both win.

Work done under leadership must stay idempotent anyway (a holder can stall past its lease):
the indexer's cursor never goes backwards and its rows are upserts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from storage.models import Lease

__all__ = ["Leadership", "advisory_key", "holder_id"]

log = logging.getLogger("ledger_api.leader")


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory-lock key derived from ``name`` (stable across processes)."""
    return int.from_bytes(
        hashlib.sha256(f"medledger:{name}".encode()).digest()[:8], "big", signed=True
    )


def holder_id() -> str:
    """This process, uniquely: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """Try-and-hold leadership of ``name``; cheap to call on every loop iteration."""

    def __init__(
        self, engine: Engine, name: str, *, lease_seconds: float = 6.0, holder: str | None = None
    ) -> None:
        self.engine = engine
        self.name = name
        self.lease_seconds = lease_seconds
        self.holder = holder or holder_id()
        self.held = False
        self._postgres = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._key: int | None = None  # per schema: test runs share one database

    def acquire(self) -> bool:
        """True when this process holds ``name`` now (taking or renewing it)."""
        try:
            held = self._acquire_pg() if self._postgres else self._acquire_lease()
        except SQLAlchemyError as exc:
            log.warning("leadership of %s: database error, stepping down: %s", self.name, exc)
            self._drop_connection()
            held = False
        if held != self.held:
            log.info("%s %s %s", self.holder, "now leads" if held else "no longer leads", self.name)
        self.held = held
        return held

    def release(self) -> None:
        """Give leadership up now (a clean shutdown lets a standby take over at once)."""
        if not self.held:
            self._drop_connection()
            return
        try:
            if self._postgres and self._conn is not None:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            elif not self._postgres:
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.delete(Lease).where(Lease.name == self.name, Lease.holder == self.holder)
                    )
        except SQLAlchemyError:
            log.warning("could not release %s cleanly", self.name, exc_info=True)
        finally:
            self.held = False
            self._drop_connection()

    # -- PostgreSQL ------------------------------------------------------------------------

    def _acquire_pg(self) -> bool:
        if self._conn is None:
            self._conn = self.engine.connect()
            schema = self._conn.execute(sa.text("SELECT current_schema()")).scalar()
            self._key = advisory_key(f"{schema}:{self.name}")
        if self.held:
            self._conn.execute(sa.text("SELECT 1"))  # raises if the backend was terminated
            self._conn.commit()
            return True
        got = bool(
            self._conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}
            ).scalar()
        )
        self._conn.commit()  # the lock is the session's: never sit idle in a transaction
        return got

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # a dead backend cannot go back to the pool
                self._conn.close()
            except SQLAlchemyError:
                pass
            self._conn = None

    # -- SQLite (and any database without advisory locks) -----------------------------------

    def _acquire_lease(self) -> bool:
        now = time.time()
        expires = now + self.lease_seconds
        table = Lease.__table__
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.update(table)
                .where(
                    table.c.name == self.name,
                    sa.or_(table.c.holder == self.holder, table.c.expires_at < now),
                )
                .values(holder=self.holder, expires_at=expires)
            ).rowcount
        if taken:
            return True
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(table).values(name=self.name, holder=self.holder, expires_at=expires)
                )
        except IntegrityError:
            return False  # someone holds it and it has not expired
        return True
