"""Helpers shared by the gateway tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from clients.gateway.config.project import Project
from clients.gateway.metrics import Metrics
from clients.gateway.pipeline import Gateway
from clients.gateway.sink.medledger import MedLedgerSink
from clients.gateway.store import Store


class NoLedger:
    """A sink client that must never be called (tests that only stage)."""

    def share_fhir(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("this test does not share")

    def close(self) -> None:
        pass


def staging_gateway(project: Project) -> Gateway:
    """A gateway whose sink stages resources (held: no patient is linked) without sharing."""
    store = Store(project.state_dir / "state.db")
    metrics = Metrics()
    sink = MedLedgerSink(
        store,
        source_system=project.settings.source_system,
        policy="dept:cardiology",
        open_client=NoLedger,
        metrics=metrics,
    )
    return Gateway(project, sink=sink, store=store, metrics=metrics)


def staged_keys(store: Store, table: str) -> list[str]:
    return [
        r["key"] for r in store.query("SELECT key FROM shared WHERE tbl = ? ORDER BY key", table)
    ]


def naive(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))
