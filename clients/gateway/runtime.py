"""Assemble a running gateway from its folder: state, sink, topics, sources, listeners.

``Runtime`` is what ``gateway run`` and ``gateway serve`` start and what the demo calls: it
loads and checks the declarations, opens the local state, connects the MedLedger sink (one
SDK session per sink thread, as the account named in ``gateway.yaml``), the topics, one
change-capture source per capture flow (log-based where the database allows it, else the
watermark: :func:`make_source`) and one MLLP listener per HL7 flow, and runs each on a thread.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clients.gateway.capture.base import Batch, Change, Source
from clients.gateway.capture.watermark import WatermarkSource
from clients.gateway.config.model import Connection
from clients.gateway.config.project import Project, load_project
from clients.gateway.connectors.atomic import AtomicApis
from clients.gateway.errors import CaptureSettingError, GatewayError
from clients.gateway.hl7.mllp import MllpServer
from clients.gateway.metrics import Metrics
from clients.gateway.pipeline import Gateway
from clients.gateway.sink.ledger import LedgerPort, load_account, sdk_factory
from clients.gateway.sink.medledger import MedLedgerSink
from clients.gateway.store import Store
from clients.gateway.topics.base import TopicHub

log = logging.getLogger("medledger.gateway")
HOUSEKEEPING_S = 600.0


def make_source(
    conn: Connection, table: str, store: Store, *, project_name: str = "gw"
) -> tuple[Source, str]:
    """The capture source for one table and why it was chosen: ``log`` (binlog / pgoutput)
    when declared or when ``auto`` finds the database ready, else ``watermark``."""
    mode = conn.capture.get("mode", "auto")
    dialect = conn.resolved_url().split(":", 1)[0].split("+", 1)[0]
    reason = "declared capture.mode: watermark"
    if mode in ("log", "auto") and dialect in ("mysql", "mariadb", "postgresql"):
        source: Source
        if dialect == "postgresql":
            from clients.gateway.capture.pgoutput import PgOutputSource

            slot = conn.capture.get("slot") or f"gw_{project_name}".replace("-", "_")
            source = PgOutputSource(conn, table, store, slot=f"{slot}_{table}".lower())
        else:
            from clients.gateway.capture.binlog import BinlogSource

            base = int(conn.capture.get("server_id", 7700))
            source = BinlogSource(
                conn, table, store, server_id=base + zlib.crc32(table.encode()) % 1000
            )
        try:
            source.check()
            return source, "log-based"
        except CaptureSettingError as exc:
            if mode == "log":
                raise
            reason = f"log-based capture unavailable: {exc}"
    elif mode == "log":
        raise CaptureSettingError(f"{conn.name}: log-based capture is not available for {dialect}")
    elif mode == "auto":
        reason = f"no log-based capture for {dialect}"
    source = WatermarkSource(conn, table, store)
    source.check()
    return source, f"watermark ({reason})"


def _digest(value: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class Runtime:
    def __init__(
        self,
        root: Path,
        *,
        open_client: Callable[[], LedgerPort] | None = None,
        with_topics: bool = True,
        with_sink: bool = True,
    ) -> None:
        self.project: Project = load_project(root)
        self.store = Store(self.project.state_dir / "state.db")
        self.metrics = Metrics()
        self.topics = (
            TopicHub.connect(self.project) if with_topics and self.project.topics else None
        )
        self.apis = AtomicApis(self.project, topics=self.topics)
        self.sink: MedLedgerSink | None = None
        medledger = self.project.settings.medledger
        if with_sink and medledger:
            if open_client is None:  # the key is read when the first share needs it
                settings, root_dir = medledger, self.project.root

                def open_client() -> LedgerPort:
                    return sdk_factory(settings["url"], load_account(settings, root_dir))()

            self.sink = MedLedgerSink(
                self.store,
                source_system=self.project.settings.source_system,
                policy=medledger["policy"],
                open_client=open_client,
                concurrency=int(medledger.get("concurrency", 4)),
                metrics=self.metrics,
                config_digest=self.project.digest,
            )
        self.gateway = Gateway(
            self.project,
            sink=self.sink,
            topics=self.topics,
            store=self.store,
            metrics=self.metrics,
            call_api=self.apis.rows,
        )
        self.sources: dict[str, tuple[Source, str]] = {}
        self.listeners: dict[str, MllpServer] = {}
        self._threads: list[threading.Thread] = []
        self.errors: dict[str, str] = {}

    # ------------------------------------------------------------------ pieces

    def capture_sources(self) -> dict[str, tuple[Source, str]]:
        for name, flow in self.project.flows.items():
            if "capture" in flow.source and name not in self.sources:
                spec = flow.source["capture"]
                conn = self.project.connections[spec["connection"]]
                self.sources[name] = make_source(
                    conn, spec["table"], self.store, project_name=self.project.settings.name
                )
        return self.sources

    def hl7_handler(self, flow: str) -> Callable[[dict[str, Any], str], None]:
        def handle(data: dict[str, Any], kind: str) -> None:
            key = str(data["MSH"][0]["f10"])
            table = "hl7." + kind.replace("^", "_")
            self.gateway.process(
                flow, Batch([Change(table, key, data)], None), source=f"mllp.{flow}", table=table
            )

        return handle

    def start_listeners(self) -> dict[str, int]:
        ports = {}
        for name, flow in self.project.flows.items():
            if "mllp" in flow.source and name not in self.listeners:
                spec = flow.source["mllp"]
                server = MllpServer(
                    self.hl7_handler(name),
                    host=spec.get("host", "127.0.0.1"),
                    port=int(spec.get("port", 2575)),
                    message_types=spec.get("message_types"),
                )
                ports[name] = server.start()
                self.listeners[name] = server
        return ports

    # ------------------------------------------------------------------ run

    def start(self, *, capture: bool = True, listeners: bool = True) -> None:
        if self.sink is not None:
            self.sink.start()
        if listeners:
            self.start_listeners()
        self.housekeeping()
        keeper = threading.Thread(target=self._housekeeping_loop, name="housekeeping", daemon=True)
        keeper.start()
        self._threads.append(keeper)
        for name, flow_decl in self.project.flows.items():
            if "topic" in flow_decl.source and self.topics is not None:
                thread = threading.Thread(
                    target=self._consume,
                    args=(name, flow_decl.source["topic"]),
                    name=f"topic-{name}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        if capture:
            for flow, (source, _why) in self.capture_sources().items():
                poll = float(
                    self.project.connections[
                        self.project.flows[flow].source["capture"]["connection"]
                    ].capture.get("poll_s", 0.5)
                )
                thread = threading.Thread(
                    target=self._capture,
                    args=(flow, source, poll),
                    name=f"capture-{flow}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def housekeeping(self) -> int:
        """Drop run traces older than ``traces.retention_hours``; returns how many runs."""
        return self.store.purge_traces(time.time() - self.project.settings.trace_retention_s)

    def _housekeeping_loop(self) -> None:
        while not self.gateway.stopped.wait(HOUSEKEEPING_S):
            try:
                self.housekeeping()
            except GatewayError as exc:  # the state file is busy or broken: say so, go on
                self.errors["housekeeping"] = str(exc)

    def _consume(self, flow: str, topic: str) -> None:
        """A flow whose source is a topic: pull, run, commit, then acknowledge."""
        assert self.topics is not None
        consumer = f"gw-{self.project.settings.name}-{flow}"
        while not self.gateway.stopped.is_set():
            try:
                messages, ack = self.topics.pull(topic, consumer, n=100, timeout=1.0)
                if messages:
                    changes = [
                        Change(f"topic.{topic}", m.msg_id or _digest(m.value), m.value)
                        for m in messages
                    ]
                    self.gateway.process(flow, Batch(changes, None), source=f"topic.{topic}")
                    self.metrics.count(self.metrics.consumed, "topic", topic, len(messages))
                    self.metrics.consumer_lag.labels("topic", topic).set(messages[-1].pending)
                ack()
            except GatewayError as exc:
                self.errors[flow] = str(exc)
                self.gateway.stopped.wait(2.0)

    def _capture(self, flow: str, source: Source, poll: float) -> None:
        while not self.gateway.stopped.is_set():
            try:
                self.gateway.run_source(flow, source, poll_s=poll)
            except GatewayError as exc:
                self.errors[flow] = str(exc)
                log.warning("capture %s: %s", flow, exc)
                self.gateway.stopped.wait(2.0)

    def run_once(self) -> int:
        """One pass of every capture source (no threads): rows handled."""
        return sum(
            self.gateway.run_source(flow, source, once=True)
            for flow, (source, _) in self.capture_sources().items()
        )

    def stop(self) -> None:
        self.gateway.stop()
        for server in self.listeners.values():
            server.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        for source, _ in self.sources.values():
            source.close()
        if self.sink is not None:
            self.sink.close()
        if self.topics is not None:
            self.topics.close()
