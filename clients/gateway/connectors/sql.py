"""Relational databases through SQLAlchemy: engines, read-only sessions, bound queries.

Tested here: MariaDB/MySQL (``mysql+pymysql://``) and PostgreSQL (``postgresql+psycopg://``),
and SQLite for the embedded demo HIS. By dialect, untested here because neither server runs
on this machine: SQL Server (``mssql+pymssql://`` — pymssql ships its own FreeTDS, no client
install) and Oracle (``oracle+oracledb://`` — python-oracledb's thin mode needs no Instant
Client). Add the driver package at the hospital; nothing else changes.

Queries are ``text()`` with ``:name`` parameters only (checked at load by
:mod:`clients.gateway.connectors.sqlparams`); values are always bound by the driver. A
connection declared ``read_only`` (the default) runs each query in a transaction that is
rolled back, and on MariaDB/MySQL and PostgreSQL asks the server for a read-only transaction.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clients.gateway.errors import ConnectorError

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def engine_for(url: str, *, pool_size: int = 4) -> Engine:
    """One pooled engine per URL per process."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            try:
                options: dict[str, Any] = {"pool_pre_ping": True}
                if not url.startswith("sqlite"):
                    options.update(pool_size=pool_size, max_overflow=pool_size)
                engine = sa.create_engine(url, **options)
            except (sa.exc.ArgumentError, ImportError) as exc:
                raise ConnectorError(f"cannot use database URL ({exc})") from None
            _ENGINES[url] = engine
        return engine


def dispose_all() -> None:
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def jsonable(value: Any) -> Any:
    """A database value as JSON data (datetimes as ISO 8601 UTC, decimals as numbers)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def row_dict(row: Any) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row._mapping.items()}


def run_query(
    url: str, sql: str, params: dict[str, Any], *, read_only: bool = True, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """Run one declared query with bound parameters; rows as JSON-ready dicts."""
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            if read_only:
                _read_only(conn)
            _statement_timeout(conn, timeout_s)
            result = conn.execute(sa.text(sql), params)
            rows = [row_dict(r) for r in result] if result.returns_rows else []
            conn.rollback()
            return rows
    except sa.exc.DBAPIError as exc:
        raise ConnectorError(f"query failed: {exc.orig}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise ConnectorError(f"query failed: {exc}") from None


def _read_only(conn: sa.Connection) -> None:
    name = conn.dialect.name
    if name in ("mysql", "mariadb") or name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def _statement_timeout(conn: sa.Connection, seconds: float) -> None:
    name = conn.dialect.name
    if name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")
    elif name in ("mysql", "mariadb"):
        if getattr(conn.dialect, "is_mariadb", False):
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {float(seconds)}")
        else:
            conn.exec_driver_sql(f"SET SESSION max_execution_time = {int(seconds * 1000)}")


def utc_now_sql(dialect: str) -> str:
    """The database's clock in UTC, as a naive timestamp (what the watermark compares)."""
    if dialect in ("mysql", "mariadb"):
        return "SELECT UTC_TIMESTAMP(6)"
    if dialect == "postgresql":
        return "SELECT (now() AT TIME ZONE 'utc')"
    if dialect == "sqlite":
        return "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
    return "SELECT CURRENT_TIMESTAMP"


_REFLECTED: dict[tuple[str, str], sa.Table] = {}


def reflected(engine: Engine, table: str) -> sa.Table:
    """The table as the database describes it (so values come back typed: a SQLite DATETIME
    as a datetime, not text), cached per engine."""
    key = (str(engine.url), table)
    with _LOCK:
        found = _REFLECTED.get(key)
    if found is None:
        try:
            found = sa.Table(table, sa.MetaData(), autoload_with=engine)
        except sa.exc.SQLAlchemyError as exc:
            raise ConnectorError(
                f"cannot read table {table}: {getattr(exc, 'orig', exc)}"
            ) from None
        with _LOCK:
            _REFLECTED[key] = found
    return found


def select_rows(
    engine: Engine, table: str, where: str | None, order: str, limit: int | None = None
) -> sa.Select[Any]:
    """``SELECT * FROM table WHERE <where> ORDER BY <order> LIMIT n`` with typed columns."""
    stmt = sa.select(reflected(engine, table))
    if where:
        stmt = stmt.where(sa.text(where))
    stmt = stmt.order_by(sa.text(order))
    return stmt.limit(limit) if limit else stmt
