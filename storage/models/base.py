"""The declarative base: one ``MetaData`` with a naming convention.

Constraint and index names are fixed by the convention rather than left to each backend, so
SQLite and PostgreSQL end up with the same names and later Alembic migrations can drop or
alter a constraint by name on both.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapper

from storage.models.types import (
    Address,
    Bytes32,
    Uint256,
    to_address,
    to_bytes32,
    to_uint256_text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Root of every index model."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


_NORMALISERS = {Address: to_address, Bytes32: to_bytes32, Uint256: to_uint256_text}


@event.listens_for(Base, "mapper_configured", propagate=True)
def _validate_on_set(mapper: Mapper[Any], class_: type) -> None:
    """Normalise address / bytes32 / uint256 attributes when they are assigned.

    Doing it at assignment (not at flush) means a bad value raises
    ``InvalidColumnValueError`` at the line that set it, and the session is never left with
    an object it cannot flush.
    """
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        normalise = _NORMALISERS.get(type(column.type))
        if normalise is None:
            continue

        def _on_set(_target: Any, value: Any, _old: Any, _initiator: Any, fn=normalise) -> Any:
            return None if value is None else fn(value)

        event.listen(getattr(class_, prop.key), "set", _on_set, retval=True)
