"""Where a relayed action stands: what a client asks after the API acknowledged it.

A consent, a revocation, an access entry or a workflow step is acknowledged once mined. A
chain rollback can still erase it; the healer then sends the same signed calldata again under a
new transaction hash (:mod:`ledger_api.services.healer`), or, when it now reverts (its nonce was
taken, its signed deadline passed), marks it ``dropped``. The client only knows the hash it was
answered with, so the journal links each re-send to the next (state ``resent``, the next hash in
``detail``) and this module follows that chain to the action's current fate. Nothing here is
secret: it says no more than the chain and ``/audit/verify`` already do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ledger_api.chain.connection import rpc
from storage.models import RelayedCall

if TYPE_CHECKING:
    from ledger_api.context import AppContext

MAX_RESENDS_FOLLOWED = 32


@dataclass(frozen=True)
class ActionStatus:
    """``state``: ``mined`` (on chain now), ``pending`` (sent, or being sent again after a
    rollback), ``dropped`` (the chain lost it and it can no longer be sent: sign it again)."""

    tx_hash: str
    state: str
    current_tx_hash: str
    block_number: int | None = None
    sends: int = 1
    detail: str | None = None
    history: list[str] = field(default_factory=list)


def action_status(*, ctx: AppContext, tx_hash: str) -> ActionStatus | None:
    """The fate of the action first sent as ``tx_hash``; None when neither the journal nor
    the chain knows it."""
    table = RelayedCall.__table__
    history = [tx_hash]
    with ctx.engine.connect() as connection:
        row = _latest(connection, table, tx_hash)
        for _ in range(MAX_RESENDS_FOLLOWED):
            if row is None or row.state != "resent":
                break
            # a re-send with the same nonce, calldata and fees is the very same transaction
            # (same hash): its newest row is already the one read
            if row.detail != history[-1]:
                history.append(str(row.detail))
            row = _latest(connection, table, str(row.detail))
    current = history[-1]
    receipt = rpc(ctx.chain.w3, "eth_getTransactionReceipt", [current])
    mined = receipt is not None and receipt.get("blockNumber") is not None
    if row is None and not mined:
        return None
    if mined and int(receipt.get("status", "0x1"), 16) == 1:
        state, detail = "mined", None
    elif mined:
        state, detail = "dropped", "the transaction reverted"
    elif row is not None and row.state == "dropped":
        state, detail = "dropped", _dropped_detail(row.detail)
    else:
        state, detail = "pending", None
    return ActionStatus(
        tx_hash=tx_hash,
        state=state,
        current_tx_hash=current,
        block_number=int(receipt["blockNumber"], 16) if mined else None,
        sends=row.sends if row is not None else 1,
        detail=detail,
        history=history,
    )


def _latest(connection: sa.Connection, table: sa.Table, tx_hash: str) -> Any:
    return connection.execute(
        sa.select(table.c.state, table.c.detail, table.c.sends)
        .where(table.c.tx_hash == tx_hash)
        .order_by(table.c.id.desc())
        .limit(1)
    ).first()


def _dropped_detail(error_name: str | None) -> str:
    return (
        f"a chain rollback erased it and sending it again reverts ({error_name or 'reverted'}): "
        "its signer must sign it again"
    )
