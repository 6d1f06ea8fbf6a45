"""The MedLedger sink: share each validated FHIR resource into the patient's chart, once.

Exactly once, across crashes, by construction:

1. the record id is ``HMAC-SHA256(k, "medledger.gateway.record/v1" ‖ source system ‖ table
   ‖ key)`` with ``k`` a secret of this gateway (``record-id.key`` in its state folder), so
   the same row always becomes the same record, and nobody without ``k`` can predict the
   id and register something else under it first;
2. :meth:`MedLedgerSink.stage` writes the resource into the local ledger as ``pending`` (or
   ``held`` if the hospital patient has no wallet in the master patient index) *in the same
   SQLite transaction* as the source's checkpoint, so a kill -9 loses neither;
3. worker threads share ``pending`` rows through the SDK and mark them ``shared``. A crash
   after MedLedger registered a record but before the mark is repaired on restart: sharing
   the same id again is answered 200 (identical) or 409 (taken by other content — the
   ciphertext differs, being encrypted afresh). Since only this gateway can form its ids, a
   409 means an earlier attempt of ours got through: the row is marked shared. (The author
   of a record cannot read its metadata without the patient's consent, so the sink cannot
   compare contents; the keyed id is what makes the 409 conclusive.)

A row MedLedger refuses for good (403, 422) goes to the dead-letter
store with the API's reason and never blocks the rows behind it; an outage (no answer, 5xx)
leaves rows ``pending`` and the workers retry with backoff. A row whose patient linked a wallet
but has not registered the wallet's key yet (no patient slot to write) is ``awaiting_key``:
shown as such in the monitor, the metrics and ``gateway held``, and tried again every
:data:`AWAITING_KEY_RECHECK_S` seconds, so it goes out soon after the patient opens their wallet.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clients.gateway.errors import SinkError
from clients.gateway.fhir.mapping import Mapped
from clients.gateway.metrics import Metrics
from clients.gateway.sink.ledger import (
    LedgerPort,
    api_status,
    is_awaiting_patient_key,
    is_client_error,
)
from clients.gateway.store import Store, dumps

RECORD_ID_DOMAIN = b"medledger.gateway.record/v1"
AWAITING_KEY_RECHECK_S = 30.0


def record_id_for(secret: bytes, source_system: str, table: str, key: str) -> bytes:
    """The idempotent record id of one source row (length-prefixed fields, no ambiguity)."""
    h = hmac.new(secret, RECORD_ID_DOMAIN, hashlib.sha256)
    for part in (source_system, table, key):
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(4, "big") + data)
    return h.digest()


def load_or_create_secret(path: Path) -> bytes:
    """The gateway's record-id key: created once (temp file, fsync, rename), then read."""
    if path.exists():
        data = path.read_bytes()
        if len(data) != 32:
            raise SinkError(f"{path} is damaged (not 32 bytes): restore it from the backup")
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(secrets.token_bytes(32))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    with contextlib.suppress(FileExistsError):  # never replace a key another process made
        os.link(tmp, path)
    tmp.unlink()
    return load_or_create_secret(path)


def _checked_wallet(wallet: str) -> str:
    text = wallet.strip()
    if len(text) != 42 or not text.startswith("0x"):
        raise SinkError(f"not a wallet address (0x and 40 hex digits): {wallet!r}")
    try:
        int(text[2:], 16)
    except ValueError:
        raise SinkError(f"not a wallet address (0x and 40 hex digits): {wallet!r}") from None
    return text


class MedLedgerSink:
    def __init__(
        self,
        store: Store,
        *,
        source_system: str,
        policy: str,
        open_client: Callable[[], LedgerPort],
        concurrency: int = 4,
        metrics: Metrics | None = None,
        config_digest: str | None = None,
    ) -> None:
        self.store = store
        self.secret = load_or_create_secret(store.path.parent / "record-id.key")
        self.source_system = source_system
        self.policy = policy
        self.open_client = open_client
        self.concurrency = concurrency
        self.metrics = metrics or Metrics()
        self.config_digest = config_digest
        self._local = threading.local()
        self._clients: list[LedgerPort] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="gateway-sink")
        self._backoff = 0.0

    # ------------------------------------------------------------------ master patient index

    def wallet_of(self, patient_id: str, db: sqlite3.Connection | None = None) -> str | None:
        conn = db or self.store._conn()
        row = conn.execute("SELECT wallet FROM mpi WHERE patient_id = ?", (patient_id,)).fetchone()
        return row["wallet"] if row else None

    def link(self, patient_id: str, wallet: str) -> int:
        """Map a hospital patient id to a wallet; their held resources become pending.

        Returns how many were released. Re-linking to another wallet is refused while any
        record was already shared to the first one (the chart cannot move)."""
        wallet = _checked_wallet(wallet)
        if not patient_id or len(patient_id) > 128:
            raise SinkError("a hospital patient id is 1 to 128 characters")
        with self.store.tx() as db:
            current = self.wallet_of(patient_id, db)
            if current and current.lower() != wallet.lower():
                shared = db.execute(
                    "SELECT COUNT(*) AS n FROM shared WHERE patient_id = ? AND state = 'shared'",
                    (patient_id,),
                ).fetchone()["n"]
                if shared:
                    raise SinkError(
                        f"patient {patient_id} is linked to {current} with {shared} shared "
                        "records; unlink is not supported"
                    )
            db.execute(
                "INSERT INTO mpi VALUES (?, ?, ?) ON CONFLICT (patient_id) DO UPDATE SET "
                "wallet = excluded.wallet, linked_at = excluded.linked_at",
                (patient_id, wallet, time.time()),
            )
            released = db.execute(
                "UPDATE shared SET state = 'pending', wallet = ?, updated_at = ? "
                "WHERE patient_id = ? AND state = 'held'",
                (wallet, time.time(), patient_id),
            ).rowcount
        self._wake.set()
        return released

    def awaiting_key(self) -> list[dict[str, Any]]:
        """Patients whose wallet is linked but who have not registered its key yet."""
        rows = self.store.query(
            "SELECT patient_id, wallet, COUNT(*) AS records, MIN(updated_at) AS since "
            "FROM shared WHERE state = 'awaiting_key' GROUP BY patient_id, wallet "
            "ORDER BY patient_id"
        )
        return [dict(r) for r in rows]

    def requeue_awaiting(self, *, older_than: float = AWAITING_KEY_RECHECK_S) -> int:
        """Rows that waited for the patient's key at least ``older_than`` seconds go back to
        ``pending`` (the patient may have registered it since); returns how many."""
        with self.store.tx() as db:
            moved = db.execute(
                "UPDATE shared SET state = 'pending', updated_at = ? "
                "WHERE state = 'awaiting_key' AND updated_at <= ?",
                (time.time(), time.time() - older_than),
            ).rowcount
        if moved:
            self._wake.set()
        return moved

    def held(self) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT patient_id, COUNT(*) AS records, MIN(updated_at) AS since FROM shared "
            "WHERE state = 'held' GROUP BY patient_id ORDER BY patient_id"
        )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ staging

    def stage(self, db: sqlite3.Connection, mapped: Mapped, *, table: str, flow: str) -> str:
        """Put one resource in the local ledger (inside the caller's transaction).

        Returns ``pending``, ``held`` or ``duplicate`` (already staged or shared)."""
        record_id = "0x" + record_id_for(self.secret, self.source_system, table, mapped.key).hex()
        if db.execute("SELECT 1 FROM shared WHERE record_id = ?", (record_id,)).fetchone():
            return "duplicate"
        wallet = self.wallet_of(mapped.patient_id, db)
        state = "pending" if wallet else "held"
        db.execute(
            "INSERT INTO shared (record_id, source_system, tbl, key, patient_id, wallet, state,"
            " resource, flow, mapping, config_digest, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record_id,
                self.source_system,
                table,
                mapped.key,
                mapped.patient_id,
                wallet,
                state,
                dumps(mapped.resource),
                flow,
                mapped.mapping,
                self.config_digest,
                time.time(),
            ),
        )
        return state

    def counts(self) -> dict[str, int]:
        rows = self.store.query("SELECT state, COUNT(*) AS n FROM shared GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    # ------------------------------------------------------------------ sharing

    def _client(self) -> LedgerPort:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self.open_client()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def drain(self, *, limit: int = 500) -> int:
        """Share pending rows now (up to ``limit``); returns how many were settled."""
        rows = self.store.query(
            "SELECT record_id, patient_id, wallet, resource, flow, tbl, key FROM shared "
            "WHERE state = 'pending' ORDER BY updated_at LIMIT ?",
            limit,
        )
        self.metrics.pending.set(len(rows))
        settled = sum(1 for ok in self._pool.map(self._share_one, rows) if ok)
        self.metrics.observe_queue(self.counts())
        return settled

    def _share_one(self, row: sqlite3.Row) -> bool:
        record_id = row["record_id"]
        resource = json.loads(row["resource"])
        try:
            self._client().share_fhir(
                resource,
                patient=row["wallet"],
                policy=self.policy,
                record_id=bytes.fromhex(record_id[2:]),
            )
        except Exception as exc:  # the SDK's errors, classified below
            if not is_client_error(exc):
                raise
            if is_awaiting_patient_key(exc):
                self._await_key(record_id)
                return True  # settled for now: out of the queue until the next recheck
            status = api_status(exc)
            if status == 409:
                pass  # an earlier attempt of ours was registered (see the module docstring)
            elif status is not None and 400 <= status < 500 and status not in (401, 408, 429):
                self._refuse(row, resource, f"MedLedger refused the record: {exc}")
                return True
            else:
                return False  # outage: stays pending, retried
        with self.store.tx() as db:
            db.execute(
                "UPDATE shared SET state = 'shared', resource = NULL, updated_at = ? "
                "WHERE record_id = ? AND state = 'pending'",
                (time.time(), record_id),
            )
        self.metrics.shared.labels(row["flow"] or "").inc()
        return True

    def _await_key(self, record_id: str) -> None:
        with self.store.tx() as db:
            db.execute(
                "UPDATE shared SET state = 'awaiting_key', updated_at = ? "
                "WHERE record_id = ? AND state = 'pending'",
                (time.time(), record_id),
            )

    def _refuse(self, row: sqlite3.Row, resource: dict[str, Any], reason: str) -> None:
        with self.store.tx() as db:
            db.execute(
                "UPDATE shared SET state = 'refused', updated_at = ? WHERE record_id = ?",
                (time.time(), row["record_id"]),
            )
        self.store.dead_letter(
            flow=row["flow"] or "",
            source=f"{self.source_system}.{row['tbl']}",
            key=row["key"],
            payload={
                "record_id": row["record_id"],
                "patient_id": row["patient_id"],
                "resource": resource,
            },
            stage="sink",
            reason=reason,
        )
        self.metrics.dead.labels("flow", row["flow"] or "").inc()

    def requeue_refused(self, record_id: str) -> bool:
        """A refused row back to pending (dead-letter replay of a sink failure)."""
        with self.store.tx() as db:
            return (
                db.execute(
                    "UPDATE shared SET updated_at = ?, state = CASE WHEN wallet IS NULL"
                    " THEN 'held' ELSE 'pending' END WHERE record_id = ? AND state = 'refused'",
                    (time.time(), record_id),
                ).rowcount
                == 1
            )

    # ------------------------------------------------------------------ background worker

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="gateway-sink", daemon=True)
            self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=max(0.2, self._backoff))
            self._wake.clear()
            try:
                self.requeue_awaiting()
                pending = self.counts().get("pending", 0)
                settled = self.drain() if pending else 0
                self._backoff = (
                    0.0 if settled or not pending else min(30.0, self._backoff * 2 or 0.5)
                )
                if settled:
                    self._wake.set()
            except Exception:  # keep the worker alive; rows stay pending
                self._backoff = min(30.0, self._backoff * 2 or 0.5)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True)
        for client in self._clients:
            client.close()
