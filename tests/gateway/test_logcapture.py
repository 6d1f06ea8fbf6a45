"""Log-based capture (MariaDB binlog ROW, PostgreSQL pgoutput) on private servers: the
out-of-order commit loses nothing, a restart resumes without repeats, and the shared servers'
missing settings are named at check time."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from clients.gateway.capture.base import Source
from clients.gateway.capture.binlog import BinlogSource
from clients.gateway.capture.pgoutput import PgOutputSource
from clients.gateway.errors import CaptureSettingError
from clients.gateway.sample.his import HisGenerator
from tests.gateway.conftest import MARIADB_URL, POSTGRES_URL, His, db_now
from tests.gateway.servers import log_mariadb, log_postgres  # noqa: F401 (fixtures)
from tests.gateway.support import naive, staged_keys, staging_gateway


def make_source(his: His, gateway, kind: str) -> Source:  # type: ignore[no-untyped-def]
    conn = gateway.project.connections["his"]
    table = f"{his.prefix}lab_result"
    if kind == "mariadb":
        return BinlogSource(conn, table, gateway.store, server_id=4000 + secrets.randbelow(1000))
    return PgOutputSource(conn, table, gateway.store, slot=f"gw_{his.prefix}lab")


@pytest.fixture(params=["mariadb", "postgres"])
def log_his(request: pytest.FixtureRequest, tmp_path: Path) -> His:
    url = request.getfixturevalue("log_mariadb" if request.param == "mariadb" else "log_postgres")
    his = His(url, tmp_path / "gw", f"t{secrets.token_hex(3)}_", capture_mode="log")
    his.kind = request.param  # type: ignore[attr-defined]
    return his


def test_out_of_order_commit_in_log_mode(log_his: His) -> None:
    gateway = staging_gateway(log_his.project())
    source = make_source(log_his, gateway, log_his.kind)  # type: ignore[attr-defined]
    source.check()
    table = log_his.tables.lab_result
    gen = HisGenerator(5)
    t0 = naive(db_now(log_his.engine)) - dt.timedelta(seconds=5)
    with log_his.engine.begin() as conn:  # before the first start: taken by the snapshot
        conn.execute(
            table.insert(), gen.lab_result("P000001", updated_at=t0 - dt.timedelta(seconds=9))
        )
    assert gateway.run_source("lab-results", source, once=True) == 1
    late = log_his.engine.connect()
    late_tx = late.begin()
    late.execute(table.insert(), gen.lab_result("P000002", updated_at=t0))
    with log_his.engine.begin() as conn:
        conn.execute(
            table.insert(), gen.lab_result("P000003", updated_at=t0 + dt.timedelta(milliseconds=1))
        )
    assert gateway.run_source("lab-results", source, once=True) == 1
    late_tx.commit()
    late.close()
    assert gateway.run_source("lab-results", source, once=True) == 1  # the late commit
    with log_his.engine.connect() as conn:
        expected = sorted(str(k) for k in conn.execute(sa.select(table.c.id)).scalars())
    assert staged_keys(gateway.store, table.name) == expected
    # a restarted gateway (new source object) resumes after the last transaction
    again = make_source(log_his, gateway, log_his.kind)  # type: ignore[attr-defined]
    if isinstance(again, BinlogSource):
        again.server_id = source.server_id  # type: ignore[attr-defined]
    assert gateway.run_source("lab-results", again, once=True) == 0
    with log_his.engine.begin() as conn:  # a multi-row transaction arrives as one batch
        conn.execute(table.insert(), [gen.lab_result("P000004") for _ in range(3)])
    assert gateway.run_source("lab-results", again, once=True) == 3
    assert len(set(staged_keys(gateway.store, table.name))) == 6
    assert gateway.store.count_dead_letters() == 0
    if isinstance(again, PgOutputSource):
        again.drop()


def test_check_names_the_setting_on_the_shared_servers(tmp_path: Path) -> None:
    his = His(MARIADB_URL, tmp_path / "m", f"t{secrets.token_hex(3)}_", capture_mode="log")
    try:
        gateway = staging_gateway(his.project())
        with pytest.raises(CaptureSettingError, match="log_bin = ON"):
            make_source(his, gateway, "mariadb").check()
    finally:
        his.drop()
    his = His(POSTGRES_URL, tmp_path / "p", f"t{secrets.token_hex(3)}_", capture_mode="log")
    try:
        gateway = staging_gateway(his.project())
        with pytest.raises(CaptureSettingError, match="wal_level = logical"):
            make_source(his, gateway, "postgres").check()
    finally:
        his.drop()
