"""Gateway test fixtures: the machine's shared MariaDB and PostgreSQL (own tables per test),
a sample gateway folder pointing at them, and the gateway's local state.

Watermark capture runs against the shared servers (db ``test``) with a unique table prefix per
test, dropped afterwards. Log-based capture needs settings the shared servers do not have, so
those tests start their own servers (:mod:`tests.gateway.servers`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from clients.gateway.config.project import Project, load_project
from clients.gateway.connectors.sql import engine_for
from clients.gateway.sample.his import HisTables, create_his, his_tables
from clients.gateway.sample.project import SampleOptions, write_sample

MARIADB_URL = os.environ.get(
    "MEDLEDGER_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
)
POSTGRES_URL = os.environ.get(
    "MEDLEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED = {"mariadb": MARIADB_URL, "postgres": POSTGRES_URL}


class His:
    """A HIS schema (prefixed tables) in one database, and a gateway folder for it."""

    def __init__(self, url: str, root: Path, prefix: str, **options: object) -> None:
        self.url = url
        self.prefix = prefix
        self.engine = engine_for(url)
        self.tables: HisTables = his_tables(prefix)
        create_his(self.engine, self.tables)
        self.root = write_sample(root, SampleOptions(his_url=url, prefix=prefix, **options))  # type: ignore[arg-type]

    def project(self) -> Project:
        return load_project(self.root)

    def drop(self) -> None:
        self.tables.metadata.drop_all(self.engine)


@pytest.fixture(params=["mariadb", "postgres"])
def shared_his(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[His]:
    """HIS tables in the shared MariaDB or PostgreSQL (``test``), unique to this test."""
    his = His(
        SHARED[request.param],
        tmp_path / "gw",
        f"t{secrets.token_hex(4)}_",
        delay_s=0.0,
        reconcile_s=0.001,
    )
    try:
        yield his
    finally:
        his.drop()


@pytest.fixture
def sqlite_his(tmp_path: Path) -> Iterator[His]:
    his = His(
        f"sqlite:///{tmp_path / 'his.db'}", tmp_path / "gw", "his_", delay_s=0.0, reconcile_s=0.001
    )
    return his


def db_now(engine: sa.Engine) -> object:
    from clients.gateway.connectors.sql import utc_now_sql

    with engine.connect() as conn:
        return conn.exec_driver_sql(utc_now_sql(conn.dialect.name)).scalar()


# ---------------------------------------------------------------- MedLedger (the sink's target)

from tests.api.conftest import (  # noqa: E402, F401  (fixtures the live stack needs)
    api_stack,
    stack_hooks,
    stack_settings,
)
from tests.clients.conftest import live_stack  # noqa: E402, F401  (fixture)
from tests.storage.conftest import empty_database  # noqa: E402


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """The MedLedger index for gateway tests: SQLite only (the API's own suites cover
    PostgreSQL; the gateway's budget is five minutes)."""
    with empty_database("sqlite", tmp_path) as url:
        yield url
