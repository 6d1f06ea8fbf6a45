"""The PostgreSQL test teardown drops its schema even when a connection was left open on it.

A ``DROP SCHEMA … CASCADE`` once deadlocked in teardown against a connection still holding
locks on the schema's tables; :func:`drop_postgres_schema` now ends those connections (found
by the ``application_name`` every URL of the schema carries) before dropping.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from storage.db import create_engine, migrate
from tests.conftest import postgres_url
from tests.storage.conftest import (
    create_postgres_schema,
    drop_postgres_schema,
    postgres_admin_engine,
    postgres_schema_url,
)

pytestmark = pytest.mark.skipif(
    postgres_url() is None, reason="needs MEDLEDGER_TEST_POSTGRES_URL (PostgreSQL tests only)"
)


def _schema_exists(schema: str) -> bool:
    admin = postgres_admin_engine()
    try:
        with admin.connect() as connection:
            return bool(
                connection.execute(
                    sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                    {"s": schema},
                ).scalar()
            )
    finally:
        admin.dispose()


def test_a_leaked_connection_holding_table_locks_does_not_block_the_drop() -> None:
    admin, schema = create_postgres_schema()
    url = postgres_schema_url(schema)
    migrate(url)
    leaked = create_engine(url)
    connection = leaked.connect()
    # a transaction left open with locks on the schema's tables (as a killed request leaves)
    connection.execute(sa.text("LOCK TABLE records IN ROW EXCLUSIVE MODE"))
    connection.execute(sa.text("SELECT count(*) FROM access_events"))
    started = time.monotonic()
    drop_postgres_schema(admin, schema)
    assert time.monotonic() - started < 10
    assert not _schema_exists(schema)
    with pytest.raises(sa.exc.OperationalError):  # its connection was ended, not waited for
        connection.execute(sa.text("SELECT 1"))
    connection.invalidate()
    leaked.dispose()
