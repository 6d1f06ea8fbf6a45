"""Watermark capture on the shared MariaDB and PostgreSQL: in order, resumable, and the
out-of-order commit (an older timestamp committed after a newer row was read) is not missed."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from clients.gateway.capture.watermark import WatermarkSource
from clients.gateway.sample.his import HisGenerator
from tests.gateway.conftest import His, db_now
from tests.gateway.support import naive, staged_keys, staging_gateway


def _source(his: His, gateway) -> WatermarkSource:  # type: ignore[no-untyped-def]
    project = gateway.project
    return WatermarkSource(project.connections["his"], f"{his.prefix}lab_result", gateway.store)


def test_out_of_order_commit_is_not_missed(shared_his: His) -> None:
    """T1 inserts a row at t0 and stays open; T2 inserts at t0+1 ms and commits; the gateway
    reads T2's row (watermark now past t0); T1 commits. Reconciliation must find T1's row."""
    project = shared_his.project()
    gateway = staging_gateway(project)
    source = _source(shared_his, gateway)
    source.check()
    table = shared_his.tables.lab_result
    gen = HisGenerator(1)
    t0 = naive(db_now(shared_his.engine)) - dt.timedelta(seconds=5)
    with shared_his.engine.begin() as conn:
        conn.execute(
            table.insert(), gen.lab_result("P000001", updated_at=t0 - dt.timedelta(seconds=10))
        )
    late = shared_his.engine.connect()
    late_tx = late.begin()
    late.execute(table.insert(), gen.lab_result("P000002", updated_at=t0))
    with shared_his.engine.begin() as conn:
        conn.execute(
            table.insert(), gen.lab_result("P000003", updated_at=t0 + dt.timedelta(milliseconds=1))
        )
    flow = "lab-results"
    assert gateway.run_source(flow, source, once=True) == 2  # the first and the newer row
    assert len(staged_keys(gateway.store, table.name)) == 2
    late_tx.commit()
    late.close()
    assert gateway.run_source(flow, source, once=True) == 1  # found by reconciliation
    keys = staged_keys(gateway.store, table.name)
    with shared_his.engine.connect() as conn:
        expected = sorted(str(k) for k in conn.execute(sa.select(table.c.id)).scalars())
    assert sorted(keys) == expected
    assert len(set(keys)) == 3
    assert gateway.run_source(flow, source, once=True) == 0  # nothing emitted twice
    assert gateway.store.count_dead_letters() == 0


def test_delay_window_reads_in_commit_safe_order_and_resumes(shared_his: His) -> None:
    project = shared_his.project()
    gateway = staging_gateway(project)
    source = _source(shared_his, gateway)
    source.delay = 3600.0  # nothing is old enough yet
    table = shared_his.tables.lab_result
    gen = HisGenerator(2)
    now = naive(db_now(shared_his.engine))
    with shared_his.engine.begin() as conn:
        for i in range(30):
            conn.execute(
                table.insert(),
                gen.lab_result(f"P{i:06d}", updated_at=now - dt.timedelta(seconds=i)),
            )
    assert gateway.run_source("lab-results", source, once=True) == 0
    source.delay = 0.0
    # a new source object (a restarted gateway) resumes from the saved position
    assert gateway.run_source("lab-results", source, once=True) == 30
    again = _source(shared_his, gateway)
    again.delay = 0.0
    with shared_his.engine.begin() as conn:
        conn.execute(
            table.insert(), gen.lab_result("P000999", updated_at=naive(db_now(shared_his.engine)))
        )
    assert gateway.run_source("lab-results", again, once=True) == 1
    assert len(set(staged_keys(gateway.store, table.name))) == 31


def test_a_row_that_does_not_map_is_dead_lettered_and_the_rest_go_on(shared_his: His) -> None:
    project = shared_his.project()
    gateway = staging_gateway(project)
    source = _source(shared_his, gateway)
    table = shared_his.tables.lab_result
    gen = HisGenerator(3)
    t = naive(db_now(shared_his.engine)) - dt.timedelta(seconds=2)
    rows = [
        gen.lab_result("P000001", updated_at=t + dt.timedelta(milliseconds=i)) for i in range(3)
    ]
    rows[1]["unit"] = "µmol/L"  # not UCUM
    with shared_his.engine.begin() as conn:
        conn.execute(table.insert(), rows)
    assert gateway.run_source("lab-results", source, once=True) == 3
    assert len(staged_keys(gateway.store, table.name)) == 2
    [letter] = gateway.store.dead_letters()
    assert letter["stage"] == "observation"
    assert "UCUM" in letter["reason"]
    assert letter["payload"]["message"]["unit"] == "µmol/L"
