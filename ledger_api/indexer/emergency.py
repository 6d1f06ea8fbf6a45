"""``EmergencyAccess`` events: break-glass openings and their reviews.

An opening is upserted by its id (guarded by position, so a replay changes nothing); the
reason *text* is never written here (the chain has only its hash): the API that relayed the
opening fills it in, before or after this handler runs. A review updates the opening's row,
again guarded, leaving the note text to the API as well.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.sql import guarded_update, position, upsert_if_newer
from storage.models.emergency import BreakGlassEvent
from storage.models.types import ZERO_ADDRESS

events_t = BreakGlassEvent.__table__


def opening_values(e: ChainEvent) -> dict[str, object]:
    """The row of a ``BreakGlassOpened`` event (shared with the API, which adds the reason)."""
    co_signer = e.args["coSigner"]
    return {
        "opening_id": e.args["id"],
        "clinician": e.args["clinician"],
        "patient": e.args["patient"],
        "reason_hash": e.args["reasonHash"],
        "co_signer": None if co_signer == ZERO_ADDRESS else co_signer,
        "opened_at": e.block_time,
        "expires_at": e.args["expiresAt"],
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        "log_index": e.log_index,
        "reviewed": False,
        **position(e),
    }


def review_values(e: ChainEvent) -> dict[str, object]:
    return {
        "reviewed": True,
        "justified": e.args["justified"],
        "reviewer": e.args["auditor"],
        "review_note_hash": e.args["noteHash"],
        "reviewed_at": e.block_time,
        "review_tx_hash": e.tx_hash,
    }


def opened(connection: Connection, e: ChainEvent) -> None:
    values = opening_values(e)
    stmt = upsert_if_newer(connection, events_t, key="opening_id", values=values, event=e)
    connection.execute(stmt)


def reviewed(connection: Connection, e: ChainEvent) -> None:
    where = events_t.c.opening_id == e.args["id"]
    guarded_update(connection, events_t, where, e, review_values(e))
