"""Counters and gauges per flow and per topic, exposed on ``/metrics`` (Prometheus).

Each gateway process owns one registry (so tests can run several gateways in one process).
The monitoring page reads the same numbers through ``/monitor/state``: produced, consumed,
failed and dead-lettered messages, consumer lag (messages waiting on a topic or in the share
queue) and source lag (milliseconds between a change's commit and the gateway seeing it).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.produced = Counter(
            "gateway_messages_produced",
            "Messages a flow or topic produced",
            ["kind", "name"],
            registry=r,
        )
        self.consumed = Counter(
            "gateway_messages_consumed",
            "Messages a flow or topic consumed",
            ["kind", "name"],
            registry=r,
        )
        self.failed = Counter(
            "gateway_messages_failed", "Messages that failed a step", ["kind", "name"], registry=r
        )
        self.dead = Counter(
            "gateway_messages_dead_lettered",
            "Messages sent to the dead-letter store",
            ["kind", "name"],
            registry=r,
        )
        self.shared = Counter(
            "gateway_records_shared", "FHIR resources shared into MedLedger", ["flow"], registry=r
        )
        self.held = Gauge(
            "gateway_records_held", "Resources held until the patient links a wallet", registry=r
        )
        self.awaiting_key = Gauge(
            "gateway_records_awaiting_patient_key",
            "Resources of linked patients who have not registered their wallet's key yet",
            registry=r,
        )
        self.pending = Gauge(
            "gateway_share_queue",
            "Resources waiting to be shared (consumer lag of the sink)",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "gateway_consumer_lag_messages",
            "Messages waiting for a consumer",
            ["kind", "name"],
            registry=r,
        )
        self.source_lag = Gauge(
            "gateway_source_lag_ms",
            "Milliseconds between a change's commit and its capture",
            ["source"],
            registry=r,
        )
        self.source_lag_hist = Histogram(
            "gateway_source_lag_seconds",
            "Commit-to-capture lag",
            ["source"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.open_dead_letters = Gauge(
            "gateway_dead_letters_open", "Dead letters not yet replayed", registry=r
        )
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=200)

    def count(self, counter: Counter, kind: str, name: str, n: int = 1) -> None:
        counter.labels(kind, name).inc(n)

    def observe_queue(self, counts: dict[str, int]) -> None:
        """The share ledger's gauges from its counts by state (``MedLedgerSink.counts``)."""
        self.held.set(counts.get("held", 0))
        self.awaiting_key.set(counts.get("awaiting_key", 0))
        self.pending.set(counts.get("pending", 0))

    def lag(self, source: str, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.source_lag.labels(source).set(seconds * 1000)
        self.source_lag_hist.labels(source).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self) -> dict[str, Any]:
        """The counters as plain data: ``{"flow": {name: {...}}, "topic": {...}, ...}``."""
        out: dict[str, Any] = {"flow": {}, "topic": {}, "source": {}, "sink": {}}
        names = {
            "gateway_messages_produced": "produced",
            "gateway_messages_consumed": "consumed",
            "gateway_messages_failed": "failed",
            "gateway_messages_dead_lettered": "dead_lettered",
            "gateway_consumer_lag_messages": "consumer_lag",
        }
        for family in self.registry.collect():
            for sample in family.samples:
                label = names.get(sample.name.removesuffix("_total"))
                if label and "kind" in sample.labels:
                    group = out.setdefault(sample.labels["kind"], {})
                    entry = group.setdefault(sample.labels["name"], {})
                    entry[label] = sample.value
                elif sample.name == "gateway_source_lag_ms":
                    out["source"].setdefault(sample.labels["source"], {})["lag_ms"] = sample.value
                elif sample.name == "gateway_records_shared_total":
                    out["flow"].setdefault(sample.labels["flow"], {})["shared"] = sample.value
                elif sample.name in (
                    "gateway_records_held",
                    "gateway_records_awaiting_patient_key",
                    "gateway_share_queue",
                    "gateway_dead_letters_open",
                ):
                    out["sink"][sample.name.removeprefix("gateway_")] = sample.value
        return out
