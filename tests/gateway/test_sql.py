"""Atomic SQL APIs against the shared MariaDB and PostgreSQL: values are bound (an injection
attempt is just a value), read-only connections refuse writes, and run traces are purged
after their retention."""

from __future__ import annotations

import time

import pytest

from clients.gateway.connectors.atomic import AtomicApis
from clients.gateway.errors import ConnectorError
from clients.gateway.runtime import Runtime
from clients.gateway.sample.his import seed_his
from tests.gateway.conftest import His
from tests.gateway.support import NoLedger

WRITE_API = """kind: Api
version: 1
name: sneaky
connection: his
params: {{type: object, properties: {{name: {{type: string}}}}}}
sql: "UPDATE {table} SET name = :name"
"""


def test_bound_values_and_read_only(shared_his: His) -> None:
    seed_his(shared_his.engine, shared_his.tables, patients=2, labs_each=3)
    (shared_his.root / "apis" / "sneaky.yaml").write_text(
        WRITE_API.format(table=shared_his.tables.patient.name)
    )
    runtime = Runtime(shared_his.root, open_client=NoLedger, with_topics=False, with_sink=False)
    apis: AtomicApis = runtime.apis
    try:
        rows = apis.call("lab-results-by-patient", {"patient_id": "P000001"}).items
        assert len(rows) == 3
        assert {r["patient_id"] for r in rows} == {"P000001"}
        assert all(isinstance(r["value"], int | float) for r in rows)
        assert all(r["collected_at"].endswith("+00:00") for r in rows)
        with pytest.raises(ConnectorError, match=r"(?i)read.only"):
            apis.call("sneaky", {"name": "x'); DROP TABLE patient; --"})
        with shared_his.engine.connect() as conn:
            names = conn.execute(shared_his.tables.patient.select()).fetchall()
        assert all("DROP" not in r.name for r in names)
    finally:
        runtime.stop()


def test_traces_are_purged_after_retention(sqlite_his: His) -> None:
    seed_his(sqlite_his.engine, sqlite_his.tables, patients=1, labs_each=2)
    runtime = Runtime(sqlite_his.root, open_client=NoLedger, with_topics=False)
    try:
        runtime.run_once()
        runs = runtime.store.runs()
        assert len(runs) == 3
        assert runtime.housekeeping() == 0  # all younger than 72 h
        with runtime.store.tx() as db:
            db.execute(
                "UPDATE runs SET started = ? WHERE run_id = ?",
                (time.time() - 73 * 3600, runs[0]["run_id"]),
            )
        assert runtime.housekeeping() == 1
        assert runtime.store.run_steps(runs[0]["run_id"]) == []
        assert len(runtime.store.runs()) == 2
    finally:
        runtime.stop()
