"""Alembic environment for the MedLedger index.

Normally driven by :func:`storage.db.migrate`, which passes an open connection in
``config.attributes["connection"]``; with the ``alembic`` command line (``-c
storage/alembic.ini``) the URL comes from ``sqlalchemy.url`` or ``MEDLEDGER_DATABASE_URL``.
Batch mode is on for SQLite, whose ALTER TABLE cannot drop or alter columns.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import create_engine
from storage.models import Base
from storage.models.types import Address, Bytes32, Uint256, UtcDateTime

config = context.config
target_metadata = Base.metadata

_PLAIN_TYPES = {
    Address: "sa.String(length=42)",
    Bytes32: "sa.String(length=66)",
    Uint256: "sa.String(length=78)",
    UtcDateTime: "sa.DateTime(timezone=True)",
}


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our TypeDecorators as their plain SQL types: migrations must not import models."""
    if type_ == "type" and type(obj) in _PLAIN_TYPES:
        return _PLAIN_TYPES[type(obj)]
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or None)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
