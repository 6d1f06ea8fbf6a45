"""The gateway's local state: one SQLite file (WAL) in the gateway's state folder.

It holds what must survive a kill -9: capture positions, the keys a watermark source has
emitted (for reconciliation), the share ledger (pending → shared, or held until the patient
links a wallet), the master patient index, dead letters, run traces and the history of
applied configurations. Each thread gets its own connection; a write is one short
transaction, so a dead letter is an append that never waits on the rows behind it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clients.gateway.errors import StateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    source TEXT PRIMARY KEY, position TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS emitted (
    source TEXT NOT NULL, key TEXT NOT NULL, ts TEXT, PRIMARY KEY (source, key));
CREATE INDEX IF NOT EXISTS emitted_ts ON emitted (source, ts);
CREATE TABLE IF NOT EXISTS shared (
    record_id TEXT PRIMARY KEY, source_system TEXT NOT NULL, tbl TEXT NOT NULL,
    key TEXT NOT NULL, patient_id TEXT NOT NULL, wallet TEXT, state TEXT NOT NULL,
    resource TEXT, flow TEXT, mapping TEXT, config_digest TEXT, updated_at REAL NOT NULL,
    UNIQUE (source_system, tbl, key));
CREATE INDEX IF NOT EXISTS shared_state ON shared (state, patient_id);
CREATE TABLE IF NOT EXISTS mpi (
    patient_id TEXT PRIMARY KEY, wallet TEXT NOT NULL, linked_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, source TEXT NOT NULL,
    key TEXT, payload TEXT NOT NULL, stage TEXT NOT NULL, reason TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open', attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS dead_letters_state ON dead_letters (state, flow);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, flow TEXT NOT NULL, started REAL NOT NULL,
    duration_ms REAL NOT NULL, status TEXT NOT NULL, error TEXT);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, step TEXT NOT NULL, started REAL NOT NULL,
    duration_ms REAL NOT NULL, input TEXT, output TEXT, error TEXT,
    PRIMARY KEY (run_id, seq));
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, digest TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS applied (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, digest TEXT NOT NULL, version TEXT NOT NULL,
    applied_at REAL NOT NULL, recorded TEXT, files TEXT NOT NULL);
"""
MAX_TRACE_TEXT = 64 * 1024


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class Store:
    """Thread-safe access to the state file (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)  # executescript commits on its own

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            except sqlite3.Error as exc:
                raise StateError(f"cannot open the state file {self.path}: {exc}") from None
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return list(self._conn().execute(sql, args))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, source: str) -> Any:
        rows = self.query("SELECT position FROM checkpoints WHERE source = ?", source)
        return json.loads(rows[0]["position"]) if rows else None

    def save_checkpoint(
        self, source: str, position: Any, db: sqlite3.Connection | None = None
    ) -> None:
        sql = (
            "INSERT INTO checkpoints (source, position, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (source) DO UPDATE SET position = excluded.position, "
            "updated_at = excluded.updated_at"
        )
        if db is not None:
            db.execute(sql, (source, dumps(position), time.time()))
            return
        with self.tx() as conn:
            conn.execute(sql, (source, dumps(position), time.time()))

    # ------------------------------------------------------------------ dead letters

    def dead_letter(
        self, *, flow: str, source: str, key: str | None, payload: Any, stage: str, reason: str
    ) -> int:
        now = time.time()
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO dead_letters (flow, source, key, payload, stage, reason, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (flow, source, key, dumps(payload), stage, reason[:4000], now, now),
            )
            return int(cur.lastrowid or 0)

    def dead_letters(
        self,
        *,
        state: str | None = "open",
        flow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        where, args = [], []
        if state:
            where.append("state = ?")
            args.append(state)
        if flow:
            where.append("flow = ?")
            args.append(flow)
        sql = "SELECT * FROM dead_letters" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.query(sql + " ORDER BY id LIMIT ? OFFSET ?", *args, limit, offset)
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]

    def count_dead_letters(self, state: str = "open") -> int:
        return int(
            self.query("SELECT COUNT(*) AS n FROM dead_letters WHERE state = ?", state)[0]["n"]
        )

    def mark_dead_letter(self, letter_id: int, state: str, reason: str | None = None) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE dead_letters SET state = ?, attempts = attempts + 1, updated_at = ?,"
                " reason = COALESCE(?, reason) WHERE id = ?",
                (state, time.time(), reason, letter_id),
            )

    # ------------------------------------------------------------------ traces

    def save_run(
        self,
        run_id: str,
        flow: str,
        started: float,
        duration_ms: float,
        status: str,
        error: str | None,
        steps: list[dict[str, Any]],
    ) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, flow, started, duration_ms, status, error),
            )
            db.executemany(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        i,
                        s["step"],
                        s["started"],
                        s["duration_ms"],
                        dumps(s.get("input"))[:MAX_TRACE_TEXT],
                        dumps(s.get("output"))[:MAX_TRACE_TEXT],
                        s.get("error"),
                    )
                    for i, s in enumerate(steps)
                ],
            )

    def runs(self, flow: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        if flow:
            rows = self.query(
                "SELECT * FROM runs WHERE flow = ? ORDER BY started DESC LIMIT ?", flow, limit
            )
        else:
            rows = self.query("SELECT * FROM runs ORDER BY started DESC LIMIT ?", limit)
        return [dict(r) for r in rows]

    def run_steps(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM steps WHERE run_id = ? ORDER BY seq", run_id)
        return [dict(r) for r in rows]

    def purge_traces(self, older_than: float) -> int:
        """Drop runs (and their steps) that started before ``older_than`` (epoch seconds)."""
        with self.tx() as db:
            db.execute(
                "DELETE FROM steps WHERE run_id IN (SELECT run_id FROM runs WHERE started < ?)",
                (older_than,),
            )
            return db.execute("DELETE FROM runs WHERE started < ?", (older_than,)).rowcount
