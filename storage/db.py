"""Engines, sessions and migrations for the relational index.

The index is a cache of the chain plus a little off-chain state (SIWE nonces, sessions,
pending records), so it must be cheap to run embedded and easy to move to a server:

- **SQLite** is the embedded default. Every connection is switched to WAL (readers never block
  the indexer's writer), foreign keys are enforced (SQLite leaves them off by default), and a
  busy timeout makes a second writer wait instead of failing with ``database is locked``.
  pysqlite's own transaction emulation is turned off and SQLAlchemy emits ``BEGIN`` itself,
  the recipe in SQLAlchemy's SQLite dialect notes, so ``SAVEPOINT`` and rollbacks mean what
  they say.
- **PostgreSQL** through ``postgresql+psycopg://…`` (psycopg 3). ``postgres://`` and
  ``postgresql://`` URLs are rewritten to that driver since psycopg2 is not a dependency.

The URL comes from the ``url`` argument, else ``MEDLEDGER_DATABASE_URL``, else a SQLite file
``.medledger/index.db`` under the working directory. The schema is only ever created by
Alembic migrations (:func:`migrate`), never by ``metadata.create_all``, so that a database
created today can be upgraded tomorrow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from storage.errors import DatabaseConfigError, DatabaseUnavailableError, MigrationError

ENV_VAR = "MEDLEDGER_DATABASE_URL"
DEFAULT_SQLITE_PATH = Path(".medledger") / "index.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_SUPPORTED = ("sqlite", "postgresql")
_MIGRATE_LOCK = 0x4D4C_4D49_4752_4154  # "MLMIGRAT": the advisory lock migrations hold


def resolve_url(url: str | URL | None = None) -> URL:
    """The database URL to use: ``url``, else ``$MEDLEDGER_DATABASE_URL``, else local SQLite.

    Raises :class:`DatabaseConfigError` for a malformed URL or an unsupported backend, so a
    typo in the environment fails at start-up with the variable's name in the message.
    """
    source = "argument"
    if url is None:
        url = os.environ.get(ENV_VAR) or None
        source = ENV_VAR
    if url is None:
        DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        return make_url(f"sqlite:///{DEFAULT_SQLITE_PATH}")
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError as exc:
        raise DatabaseConfigError(f"malformed database URL in {source}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
        backend = "postgresql"
    if backend not in _SUPPORTED:
        raise DatabaseConfigError(
            f"unsupported database {backend!r} in {source}: use sqlite:///path or "
            "postgresql+psycopg://user@host/db"
        )
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str | URL | None = None, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (see :func:`resolve_url`) with MedLedger's connection settings.

    SQLite files get WAL, foreign keys and a busy timeout on every new connection; an
    in-memory SQLite database is shared by one static connection (otherwise each pool
    connection would see its own empty database).
    """
    resolved = resolve_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if resolved.get_backend_name() == "sqlite":
        database = resolved.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if in_memory:
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(resolved, **kwargs)
        _configure_sqlite(engine, wal=not in_memory)
        return engine
    kwargs["pool_pre_ping"] = True
    return sa.create_engine(resolved, **kwargs)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite; the "begin" hook below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (API handlers return them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def check_connection(engine: Engine) -> None:
    """Open one connection now, so an unreachable server fails at start-up, not mid-request."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        ) from exc


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic :class:`Config` built in code (no ini file needed inside a wheel)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = resolve_url(url).render_as_string(hide_password=False)
        # ConfigParser interpolation would choke on '%' in passwords or query options.
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(url: str | URL | Engine | None = None, *, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on ``url`` (or on an existing engine), programmatically.

    Runs on one connection inside one transaction where the backend allows transactional DDL
    (PostgreSQL), so a failing migration leaves the schema as it was.
    """
    engine = url if isinstance(url, Engine) else create_engine(url)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # several API processes start together: one migrates, the others wait for it
                # and then find nothing left to do (the lock ends with the transaction)
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot migrate {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        ) from exc
    except (SQLAlchemyError, CommandError) as exc:
        raise MigrationError(f"migration to {revision!r} failed: {exc}") from exc
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
