"""Engines, sessions and migrations for the relational index.

The index is a cache of the chain plus a little off-chain state (SIWE nonces, sessions,
pending records), so it must be cheap to run embedded and easy to move to a server:

- **SQLite** is the embedded default. Every connection is switched to WAL (readers never block
  the indexer's writer), foreign keys are enforced (SQLite leaves them off by default), and a
  busy timeout makes a second writer wait instead of failing with ``database is locked``.
  pysqlite's own transaction emulation is turned off and MedLedger emits ``BEGIN`` itself
  (the recipe in SQLAlchemy's SQLite dialect notes), lazily and ``IMMEDIATE`` for writing
  transactions, so a read-then-write transaction never meets a stale snapshot
  (:func:`_configure_sqlite`).
- **PostgreSQL** through ``postgresql+psycopg://…`` (psycopg 3). ``postgres://`` and
  ``postgresql://`` URLs are rewritten to that driver since psycopg2 is not a dependency.

The URL comes from the ``url`` argument, else ``MEDLEDGER_DATABASE_URL``, else a SQLite file
``.medledger/index.db`` under the working directory. The schema is only ever created by
Alembic migrations (:func:`migrate`), never by ``metadata.create_all``, so that a database
created today can be upgraded tomorrow.
"""

from __future__ import annotations

import os
import threading
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
SQLITE_BUSY_TIMEOUT_MS = 30_000
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


_READ_VERBS = frozenset({"SELECT", "PRAGMA", "EXPLAIN", "VALUES"})
_TXN_STATE = "medledger_sqlite_txn"  # keys in the DBAPI connection's pool record info
_WRITER_LOCK = "medledger_sqlite_writer"


def _statement_writes(statement: str) -> bool:
    """Whether ``statement`` needs SQLite's write lock (anything but a plain read).

    ``SAVEPOINT`` counts as a write: a nested transaction is only ever opened to write, and a
    deferred transaction cannot be restarted (see :func:`_configure_sqlite`) once it holds one.
    """
    head = statement.lstrip(" \t\r\n(").split(None, 1)
    return not head or head[0].upper() not in _READ_VERBS


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """Connection settings and a transaction discipline under which SQLite never refuses.

    The failure this prevents: a transaction that began *deferred*, read, and then wants to
    write while another connection (the indexer) committed in between cannot upgrade its
    stale snapshot; SQLite answers ``database is locked`` at once (``SQLITE_BUSY_SNAPSHOT``),
    without waiting out the busy timeout. So transactions begin lazily, at their first
    statement, and in the mode that statement needs:

    - a first write (or savepoint) begins ``BEGIN IMMEDIATE``: the write lock is taken up
      front, waiting out the busy timeout behind other writers;
    - a first read begins a plain deferred ``BEGIN``: read-only requests never queue behind
      writers (WAL readers do not block);
    - the first write of a transaction that so far only read restarts it as ``BEGIN
      IMMEDIATE`` (nothing was written yet, so nothing is lost). Its earlier reads came from
      an older snapshot than its writes, which is PostgreSQL's default READ COMMITTED, the
      isolation every service already has to be correct under.

    Within one process, writers also queue on a lock (the writer semaphore) before ``BEGIN
    IMMEDIATE``: SQLite's busy handler polls with growing sleeps, so under many writers one
    (the indexer) could lose the race for the write lock for seconds on end; a queue on a
    lock hands it over in turn. The wait is bounded by the busy timeout, after which SQLite's
    own waiting takes over, so a thread that opens a second writing session while holding
    one is no worse off than without the lock.
    """
    writer_lock = threading.Lock()

    def _take_writer_lock(info: dict[str, Any]) -> None:
        if writer_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            info[_WRITER_LOCK] = True

    def _release_writer_lock(info: dict[str, Any]) -> None:
        if info.pop(_WRITER_LOCK, False):
            writer_lock.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite; the hooks below emit BEGIN.
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
        # lazy: the first statement decides the mode (see before_cursor_execute)
        connection.connection.info[_TXN_STATE] = "lazy"

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(
        connection: sa.Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        info = connection.connection.info
        state = info.get(_TXN_STATE)
        if state is None or state == "immediate":
            return  # outside a SQLAlchemy transaction, or already holding the write lock
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        writes = _statement_writes(statement)
        if state == "deferred":
            if not writes:
                return
            if dbapi_connection.in_transaction:
                dbapi_connection.execute("ROLLBACK")  # read-only so far: nothing to lose
        elif dbapi_connection.in_transaction:  # "lazy", yet something began one: keep it
            info[_TXN_STATE] = "immediate" if writes else "deferred"
            return
        if writes:
            _take_writer_lock(info)
            dbapi_connection.execute("BEGIN IMMEDIATE")
        else:
            dbapi_connection.execute("BEGIN")
        info[_TXN_STATE] = "immediate" if writes else "deferred"

    def _end(connection: sa.Connection, finish: str) -> None:
        record = connection.connection
        record.info.pop(_TXN_STATE, None)
        if record.info.get(_WRITER_LOCK):
            # finish here, then hand the lock on; SQLAlchemy's own commit() or rollback()
            # that follows is a no-op on a pysqlite connection outside a transaction
            dbapi_connection = record.dbapi_connection
            try:
                if dbapi_connection is not None:
                    getattr(dbapi_connection, finish)()
            finally:
                _release_writer_lock(record.info)

    @event.listens_for(engine, "commit")
    def _on_commit(connection: sa.Connection) -> None:
        _end(connection, "commit")

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: sa.Connection) -> None:
        _end(connection, "rollback")

    @event.listens_for(engine.pool, "reset")
    def _on_reset(_dbapi_connection: Any, record: Any, _state: Any) -> None:
        record.info.pop(_TXN_STATE, None)
        _release_writer_lock(record.info)

    @event.listens_for(engine.pool, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
        _release_writer_lock(record.info)


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
