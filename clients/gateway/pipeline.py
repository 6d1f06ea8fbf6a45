"""The gateway at run time: sources feed flows, flows' effects are committed with positions.

For each batch a source gives, every change runs through its flow
(:class:`~clients.gateway.flows.engine.FlowRunner`). Then, in **one** local transaction: the
resources for MedLedger are staged (pending or held), failed messages become dead letters,
the watermark's emitted keys and the run traces are written, and the source's position is
saved. Topic messages are published before that commit with a message id derived from the
source key, so a crash between the two is deduplicated by the broker (JetStream's
``Nats-Msg-Id``). A bad row costs one dead letter and never stops the rows behind it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from typing import Any

from clients.gateway.capture.base import Batch, Change, Source
from clients.gateway.config.project import Project
from clients.gateway.errors import GatewayError, SinkError
from clients.gateway.fhir.mapping import Mapped
from clients.gateway.flows.engine import FlowRunner, RunResult, plain
from clients.gateway.metrics import Metrics
from clients.gateway.sink.medledger import MedLedgerSink
from clients.gateway.store import Store, dumps
from clients.gateway.topics.base import TopicHub

log = logging.getLogger("medledger.gateway")


class Gateway:
    """One hospital's gateway: its project, state, metrics, sink, topics and flows."""

    def __init__(
        self,
        project: Project,
        *,
        sink: MedLedgerSink | None = None,
        topics: TopicHub | None = None,
        store: Store | None = None,
        metrics: Metrics | None = None,
        call_api: Any = None,
    ) -> None:
        self.project = project
        self.store = store or Store(project.state_dir / "state.db")
        self.metrics = metrics or (sink.metrics if sink else Metrics())
        self.sink = sink
        self.topics = topics
        self.runners = {
            name: FlowRunner(project, flow, call_api=call_api)
            for name, flow in project.flows.items()
        }
        self._stop = threading.Event()

    # ------------------------------------------------------------------ one message or batch

    def process(
        self, flow: str, batch: Batch, *, source: str, table: str | None = None
    ) -> list[RunResult]:
        """Run every change of ``batch`` through ``flow`` and commit the results with
        ``batch.position`` (saved under ``source``)."""
        runner = self.runners[flow]
        results = []
        for change in batch.changes:
            result = runner.run(change.row)
            results.append(result)
            if change.committed_at is not None:
                self.metrics.lag(source, time.time() - change.committed_at.timestamp())
        self._publish(flow, source, batch, results)
        with self.store.tx() as db:
            for change, result in zip(batch.changes, results, strict=True):
                self._commit_one(
                    db,
                    flow,
                    source,
                    change.table if table is None else table,
                    change.key,
                    change.row,
                    result,
                )
            if batch.emitted:
                db.executemany(
                    "INSERT OR REPLACE INTO emitted (source, key, ts) VALUES (?, ?, ?)",
                    [(source, key, ts) for _t, key, ts in batch.emitted],
                )
            if batch.position is not None:
                self.store.save_checkpoint(source, batch.position, db)
        self.metrics.count(self.metrics.consumed, "flow", flow, len(batch.changes))
        if self.sink is not None:
            self.sink.notify()
        return results

    def _commit_one(
        self,
        db: sqlite3.Connection,
        flow: str,
        source: str,
        table: str,
        key: str,
        message: Any,
        result: RunResult,
    ) -> None:
        failure = None if result.ok else (result.failed_step or "?", result.error or "")
        if result.ok:
            for effect in result.effects:
                if effect.kind != "sink":
                    continue
                if self.sink is None:
                    failure = (effect.step, "no MedLedger sink is configured on this gateway")
                    break
                if isinstance(effect.value, Mapped):
                    self.sink.stage(db, effect.value, table=table, flow=flow)
        if failure is not None:
            db.execute(
                "INSERT INTO dead_letters (flow, source, key, payload, stage, reason, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    flow,
                    source,
                    key,
                    dumps({"table": table, "message": message}),
                    failure[0],
                    failure[1][:4000],
                    time.time(),
                    time.time(),
                ),
            )
            self.metrics.count(self.metrics.failed, "flow", flow)
            self.metrics.count(self.metrics.dead, "flow", flow)
        else:
            self.metrics.count(self.metrics.produced, "flow", flow)
        db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
            (
                result.run_id,
                flow,
                result.started,
                result.duration_ms,
                "ok" if result.ok else "failed",
                result.error,
            ),
        )
        db.executemany(
            "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    result.run_id,
                    i,
                    s["step"],
                    s["started"],
                    s["duration_ms"],
                    dumps(s.get("input"))[:65536],
                    dumps(s.get("output"))[:65536],
                    s.get("error"),
                )
                for i, s in enumerate(result.steps)
            ],
        )

    def _publish(self, flow: str, source: str, batch: Batch, results: list[RunResult]) -> None:
        for change, result in zip(batch.changes, results, strict=True):
            for effect in result.effects if result.ok else []:
                if effect.kind != "publish":
                    continue
                if self.topics is None:
                    raise GatewayError(f"flow {flow} publishes but no topics are connected")
                msg_id = hashlib.sha256(
                    f"{source}|{change.table}|{change.key}|{effect.step}".encode()
                ).hexdigest()
                self.topics.publish(effect.target, plain(effect.value), msg_id=msg_id)
                self.metrics.count(self.metrics.produced, "topic", effect.target)

    # ------------------------------------------------------------------ capture loop

    def run_source(
        self, flow: str, source: Source, *, once: bool = False, poll_s: float = 0.2
    ) -> int:
        """Poll ``source`` into ``flow`` until :meth:`stop` (or one pass with ``once``)."""
        handled = 0
        while not self._stop.is_set():
            position = self.store.checkpoint(source.name)
            for batch in source.poll(position):
                self.process(flow, batch, source=source.name)
                handled += len(batch.changes)
            if once:
                break
            self._stop.wait(poll_s)
        return handled

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> threading.Event:
        """Set once :meth:`stop` was called (threads wait on it between passes)."""
        return self._stop

    # ------------------------------------------------------------------ dead letters

    def replay(self, letter_id: int) -> bool:
        """Run a dead letter again with the current declarations; True if it went through.

        A letter from the sink (MedLedger refused the record) is put back in the share queue;
        any other runs its flow again from the original message."""
        rows = self.store.query("SELECT * FROM dead_letters WHERE id = ?", letter_id)
        if not rows:
            raise GatewayError(f"no dead letter {letter_id}")
        row = rows[0]
        if row["state"] != "open":
            raise GatewayError(f"dead letter {letter_id} is {row['state']}, not open")
        payload = json.loads(row["payload"])
        if row["stage"] == "sink":
            if self.sink is None or not self.sink.requeue_refused(payload["record_id"]):
                raise SinkError(f"dead letter {letter_id}: its record is no longer refused")
            self.store.mark_dead_letter(letter_id, "replayed")
            self.sink.notify()
            return True
        if row["flow"] not in self.runners:
            raise GatewayError(f"dead letter {letter_id}: flow {row['flow']} no longer exists")
        result = self.runners[row["flow"]].run(payload["message"])
        if not result.ok:
            self.store.mark_dead_letter(letter_id, "open", f"{result.failed_step}: {result.error}")
            return False
        table, key = payload["table"], row["key"] or ""
        change = Change(table, key, payload["message"])
        self._publish(row["flow"], row["source"], Batch([change], None), [result])
        with self.store.tx() as db:
            for effect in result.effects:
                if (
                    effect.kind == "sink"
                    and self.sink is not None
                    and isinstance(effect.value, Mapped)
                ):
                    self.sink.stage(db, effect.value, table=table, flow=row["flow"])
            db.execute(
                "UPDATE dead_letters SET state = 'replayed', attempts = attempts + 1, "
                "updated_at = ? WHERE id = ?",
                (time.time(), letter_id),
            )
        if self.sink is not None:
            self.sink.notify()
        return True
