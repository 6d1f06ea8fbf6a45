"""The healer: after a chain rollback, send again every acknowledged action that vanished.

Runs in the process that holds the indexer's leadership, right after each indexer pass.
What it heals comes from what the API kept, never from a client:

- **records**: a ``pending`` row older than ``heal_after_seconds`` (15 s) (left by a crash, or put
  back to ``pending`` by the indexer's rewind) is settled by the reconciler — confirmed from
  the chain, or registered again from its blocks (still pinned) and the author's stored
  registration signature;
- **relayed calls** (consents, revocations, access entries, workflow steps — the signed
  payload is the calldata, :class:`~storage.models.RelayedCall`): one still ``sent`` after
  ``heal_after_seconds`` (15 s) whose transaction the chain neither mined nor holds is sent
  again, as is, by this process's relayer (the contract checks the actor's signature, not the
  relayer) as a new journal row; the old row becomes ``resent`` with the new hash in
  ``detail``, so a client asking about the hash it was answered with can follow it
  (``GET /actions/{tx_hash}``). One that now reverts (its signed deadline passed, its nonce was
  taken) is ``dropped`` — that route tells its client so — and listed in
  :class:`~storage.models.Unhealed`, which ``/audit/verify`` reports.

Mined and re-sent calls are kept for ``journal_keep_seconds`` (7 days by default: a rollback
deeper than that is not healed from the journal, e.g. a chain restored from an older backup)
and then deleted, so the table stays bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ledger_api.chain.connection import rpc, rpc_batch
from ledger_api.chain.errors import ChainError, RpcError, TransactionRevertedError
from ledger_api.services.reconciler import reconcile_pending
from ledger_api.services.unhealed import note_unhealed
from storage.models import RelayedCall

if TYPE_CHECKING:
    from ledger_api.context import AppContext
    from ledger_api.indexer import Indexer

__all__ = ["Healer", "note_unhealed"]

log = logging.getLogger("ledger_api.healer")

HEAL_EVERY = 2.0
BATCH = 1_000


class Healer:
    """See the module docstring; :meth:`run_once` is cheap when there is nothing to heal."""

    def __init__(self, *, ctx: AppContext, indexer: Indexer | None = None) -> None:
        self.ctx = ctx
        self._last = 0.0
        self._urgent = False
        if indexer is not None:
            indexer.on_rewind = self._rewound

    def _rewound(self, _changed: dict[str, Any]) -> None:
        self._urgent = True
        self.ctx.chain.relayer.resync_nonce()

    def run_once(self) -> None:
        now = time.time()
        if not self._urgent and now - self._last < HEAL_EVERY:
            return
        self._last, self._urgent = now, False
        reconcile_pending(ctx=self.ctx, older_than=self.ctx.settings.heal_after_seconds)
        self.heal_calls(now)

    def heal_calls(self, now: float) -> None:
        table = RelayedCall.__table__
        with self.ctx.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table)
                .where(
                    table.c.state == "sent",
                    table.c.sent_at < now - self.ctx.settings.heal_after_seconds,
                )
                .order_by(table.c.id)
                .limit(BATCH)
            ).all()
        if rows:
            self._settle_calls(rows)
        with self.ctx.engine.begin() as connection:
            connection.execute(
                sa.delete(table).where(
                    table.c.state.in_(("mined", "resent")),
                    table.c.sent_at < now - self.ctx.settings.journal_keep_seconds,
                )
            )

    def _settle_calls(self, rows: Sequence[Any]) -> None:
        w3 = self.ctx.chain.w3
        receipts = rpc_batch(w3, [("eth_getTransactionReceipt", [r.tx_hash]) for r in rows])
        table = RelayedCall.__table__
        mined: list[dict[str, int]] = []
        waiting = False
        for row, receipt in zip(rows, receipts, strict=True):
            if isinstance(receipt, RpcError):
                continue
            if receipt is not None and receipt.get("blockNumber") is not None:
                mined.append({"row_id": row.id, "block": int(receipt["blockNumber"], 16)})
                continue
            if rpc(w3, "eth_getTransactionByHash", [row.tx_hash]) is not None:
                waiting = True  # still in the node's pool: wait for it
                continue
            self._resend(row)
        if waiting:
            # a transaction that old and still in the pool may be queued behind a nonce the
            # chain forgot in a rollback (nothing else would ever mine it): fill the gap
            check_nonce = getattr(self.ctx.chain.relayer, "check_nonce", None)
            if check_nonce is not None:
                check_nonce()
        if mined:  # one statement for the lot
            with self.ctx.engine.begin() as connection:
                connection.execute(
                    sa.update(table)
                    .where(table.c.id == sa.bindparam("row_id"))
                    .values(state="mined", block_number=sa.bindparam("block")),
                    mined,
                )

    def _resend(self, row: Any) -> None:
        table = RelayedCall.__table__
        relayer = self.ctx.chain.relayer
        send = getattr(relayer, "send_unjournalled", relayer.send)
        try:
            tx_hash = send(to=row.target, data=bytes(row.data), gas=row.gas or None)
        except TransactionRevertedError as exc:
            with self.ctx.engine.begin() as connection:
                connection.execute(
                    sa.update(table)
                    .where(table.c.id == row.id)
                    .values(state="dropped", detail=str(exc.error_name)[:300])
                )
            note_unhealed(
                self.ctx,
                kind="relayed_call",
                key=f"{row.id}:{row.tx_hash}",
                reason=f"resend_reverted:{exc.error_name}"[:64],
                repair=(
                    f"the signed action sent to {row.target} in {row.tx_hash} vanished in a "
                    f"chain rollback and now reverts ({exc.error_name}, e.g. its signed deadline "
                    "passed): its signer must sign it again"
                ),
            )
            return
        except ChainError as exc:
            log.warning("healer: could not resend call %s: %s", row.id, exc)
            return
        log.warning("healer: re-sent relayed call %s (was %s) as %s", row.id, row.tx_hash, tx_hash)
        with self.ctx.engine.begin() as connection:
            connection.execute(
                sa.update(table).where(table.c.id == row.id).values(state="resent", detail=tx_hash)
            )
            connection.execute(
                sa.insert(table).values(
                    tx_hash=tx_hash,
                    relayer=relayer.address,
                    target=row.target,
                    data=bytes(row.data),
                    gas=row.gas,
                    sent_at=time.time(),
                    state="sent",
                    sends=row.sends + 1,
                )
            )
