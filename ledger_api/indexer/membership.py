"""Consortium membership events: institutions and members, applied one by one in order.

The contract replaces a member's attribute list as a whole on every enrolment or update, so
the index does the same. Every update is guarded by the row's last applied position, which
keeps a replayed old event from undoing a newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.sql import (
    guarded_update,
    position,
    upsert_if_newer,
)
from storage.models import Institution, Member, MemberAttribute
from storage.models.identity import ROLES

institutions_t = Institution.__table__
members_t = Member.__table__
attributes_t = MemberAttribute.__table__

Handler = Callable[[Connection, ChainEvent], None]


def attribute_text(word: str) -> str:
    """A ``bytes32``-packed attribute (``dept:cardiology``) as text; hex if not UTF-8."""
    raw = bytes.fromhex(word[2:]).rstrip(b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return word
    return text if text.isprintable() else word


def institution_added(connection: Connection, e: ChainEvent) -> None:
    values = {
        "institution_id": e.args["institutionId"],
        "code": e.args["code"],
        "name": e.args["name"],
        "admin": e.args["admin"],
        "active": True,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **position(e),
    }
    stmt = upsert_if_newer(connection, institutions_t, key="institution_id", values=values, event=e)
    connection.execute(stmt)


def institution(column_values: Callable[[ChainEvent], dict[str, Any]]) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        where = institutions_t.c.institution_id == e.args["institutionId"]
        guarded_update(connection, institutions_t, where, e, column_values(e))

    return handle


def role_name(code: int) -> str:
    """The index's name of a ``Consortium.Role`` code (the code itself if unknown)."""
    return ROLES[code] if code < len(ROLES) else str(code)


def _replace_attributes(connection: Connection, account: str, words: Sequence[str]) -> None:
    connection.execute(sa.delete(attributes_t).where(attributes_t.c.address == account))
    texts = sorted({attribute_text(w) for w in words})
    if texts:
        connection.execute(
            sa.insert(attributes_t), [{"address": account, "attribute": t} for t in texts]
        )


def member_enrolled(connection: Connection, e: ChainEvent) -> None:
    account = e.args["account"]
    values = {
        "address": account,
        "institution_id": e.args["institutionId"] or None,
        "role": role_name(e.args["role"]),
        "active": True,
        "removed": False,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **position(e),
    }
    stmt = upsert_if_newer(connection, members_t, key="address", values=values, event=e)
    # RETURNING, not rowcount: psycopg reports -1 for a skipped ON CONFLICT DO UPDATE.
    if connection.execute(stmt.returning(members_t.c.address)).first() is not None:
        _replace_attributes(connection, account, e.args["attributes"])


def member_updated(connection: Connection, e: ChainEvent) -> None:
    account = e.args["account"]
    role = role_name(e.args["role"])
    if guarded_update(connection, members_t, members_t.c.address == account, e, {"role": role}):
        _replace_attributes(connection, account, e.args["attributes"])


def member(column_values: dict[str, Any], *, clear_attributes: bool = False) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        account = e.args["account"]
        where = members_t.c.address == account
        if guarded_update(connection, members_t, where, e, dict(column_values)) and (
            clear_attributes
        ):
            _replace_attributes(connection, account, [])

    return handle
