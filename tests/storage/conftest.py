"""Database fixtures for the storage tests: every index test runs on SQLite and PostgreSQL.

``database_url`` is parametrized over the backends under test:

- ``sqlite`` always: a fresh file in the test's temp dir (WAL needs a real file);
- ``postgres`` only when ``MEDLEDGER_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it). When
  the variable is unset the param is not collected at all; when it is set but the server is
  unreachable the test FAILS with the URL in the message: a CI that asked for PostgreSQL must
  never go green without it.

Isolation on PostgreSQL: each test gets its own schema with a random name, selected through
``search_path`` in the URL (``?options=-csearch_path=…``), and dropped afterwards, so tests
of other engineers can share the ``test`` database concurrently.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage.db import create_engine, migrate, session_factory
from tests.conftest import postgres_url

BACKENDS = ["sqlite"] + (["postgres"] if postgres_url() else [])


def postgres_admin_engine() -> Engine:
    """An engine on the PostgreSQL under test, or a test failure naming why it is unusable."""
    url = postgres_url()
    assert url is not None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        pytest.fail(
            f"MEDLEDGER_TEST_POSTGRES_URL is set to {url!r} but PostgreSQL is unreachable: {exc}",
            pytrace=False,
        )
    return engine


def postgres_schema_url(schema: str) -> str:
    url = sa.engine.make_url(postgres_url() or "")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def create_postgres_schema() -> tuple[Engine, str]:
    admin = postgres_admin_engine()
    schema = f"medledger_t_{secrets.token_hex(6)}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return admin, schema


def drop_postgres_schema(admin: Engine, schema: str) -> None:
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend under test (not yet migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.db'}"
        return
    admin, schema = create_postgres_schema()
    try:
        yield postgres_schema_url(schema)
    finally:
        drop_postgres_schema(admin, schema)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database's engine."""
    migrate(database_url)
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
