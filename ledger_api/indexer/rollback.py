"""Chain rollbacks and reorganisations: notice them, find the common ancestor, rewind.

anvil restarted from a state file a second old, geth after a reorg, any chain restored from a
backup: blocks the indexer applied can vanish or change. The indexer keeps the hash of every
block it applied (:class:`~storage.models.IndexedBlock`); before each pass it compares the hash
at its cursor with the chain's. A different hash, or a head below the cursor, is a rollback:
the stored hashes are compared newest first (batched) until one matches, the *common
ancestor*, and the index is rewound to it in one transaction:

- rows created by a vanished event (every table with a ``block_number``) are deleted, and
  rows a vanished event updated have their ``(updated_block, updated_log_index)`` guard reset
  to the ancestor, so the re-sent action's event (at a new, possibly lower, height) applies;
- the app marketplace's version statuses are derived again from the status events left
  (:func:`ledger_api.indexer.marketplace.recompute`);
- records the API acknowledged (``confirmed``, registered after the ancestor) go back to
  ``pending``: their blocks stay pinned and the author's registration signature is in the
  row, so the healer (:mod:`ledger_api.services.healer`) registers them again;
- relayed calls mined after the ancestor go back to ``sent``, for the healer to re-send;
- the cursor and the stored hashes go back to the ancestor.

Limits: a state change a vanished event made to a row created before the ancestor (a
revocation, a referral's transition) stays in the row until the re-sent action is indexed
again; if it is never re-sent (its signed deadline passed), ``/audit/verify`` reports the row
as not on chain and the healer lists the call in ``unhealed``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from web3 import Web3

from ledger_api.chain.connection import rpc, rpc_batch
from ledger_api.indexer import marketplace as marketplace_events
from ledger_api.indexer.errors import ChainMovedError
from storage.models import Base, IndexedBlock, IndexerCursor, Record, RelayedCall

__all__ = [
    "block_hashes",
    "common_ancestor",
    "reopen_above_head",
    "reopen_vanished",
    "rewind",
    "store_hashes",
]

log = logging.getLogger("ledger_api.indexer.rollback")

_BATCH = 100
# tables whose rows the API keeps across a rewind (handled by name below) or that are not
# derived from events
_SPECIAL = {"records", "indexed_blocks", "relayed_calls"}


def block_hashes(w3: Web3, numbers: Sequence[int]) -> dict[int, str | None]:
    """``{number: hash}`` from the chain (None where the chain has no such block)."""
    found: dict[int, str | None] = {}
    for i in range(0, len(numbers), _BATCH):
        chunk = list(numbers[i : i + _BATCH])
        blocks = rpc_batch(w3, [("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
        for number, block in zip(chunk, blocks, strict=True):
            if isinstance(block, Exception):
                raise ChainMovedError(f"cannot read block {number}: {block}")
            found[number] = None if block is None else str(block["hash"]).lower()
    return found


def store_hashes(connection: Connection, chain_id: int, hashes: dict[int, str]) -> None:
    """Remember the hashes of blocks just indexed (replacing any stale ones)."""
    if not hashes:
        return
    table = IndexedBlock.__table__
    connection.execute(
        sa.delete(table).where(
            table.c.chain_id == chain_id, table.c.number.between(min(hashes), max(hashes))
        )
    )
    connection.execute(
        sa.insert(table),
        [{"chain_id": chain_id, "number": n, "hash": h} for n, h in sorted(hashes.items())],
    )


def reopen_vanished(
    connection: Connection,
    from_block: int,
    to_block: int,
    *,
    record_ids: Sequence[str],
    tx_hashes: Sequence[str],
) -> None:
    """What the API marked done from a receipt in ``[from_block, to_block]`` but the chain's
    logs of that range do not hold goes back to pending, for the healer.

    The API confirms a share (and the healer a relayed call) from its receipt, ahead of the
    indexer. If the chain loses that block before the indexer reads it (a node restarted from
    a state saved before it), no indexed hash changes and :func:`rewind` never runs: this
    check, made with every range indexed, catches it."""
    records = Record.__table__
    query = sa.update(records).where(
        records.c.state == "confirmed", records.c.block_number.between(from_block, to_block)
    )
    if record_ids:
        query = query.where(records.c.record_id.not_in(list(record_ids)))
    reopened = connection.execute(query.values(state="pending")).rowcount
    calls = RelayedCall.__table__
    query = sa.update(calls).where(
        calls.c.state == "mined", calls.c.block_number.between(from_block, to_block)
    )
    if tx_hashes:
        query = query.where(calls.c.tx_hash.not_in(list(tx_hashes)))
    resent = connection.execute(query.values(state="sent", block_number=None)).rowcount
    if reopened or resent:
        log.warning(
            "blocks %d-%d lack %d acknowledged record(s) and %d relayed call(s): "
            "the chain lost them; the healer sends them again",
            from_block,
            to_block,
            reopened,
            resent,
        )


def reopen_above_head(session_factory: Any, w3: Web3) -> int:
    """Send back to pending what the API acknowledged from a block above the chain's head (a
    node restarted from an older state lost it before the indexer read it); returns how many.

    The rows are read first and the head after them: every row read was confirmed from a
    receipt of a block mined before that second read, so a block number above it is a lost
    block, not one mined while this ran. (Reading the head first and then updating by range
    would also catch a share acknowledged in between, and hide a record the API had just
    confirmed until the healer settled it again.) Only the rows read are updated, by id."""
    head = int(rpc(w3, "eth_blockNumber", []), 16)
    with session_factory() as session:
        records = session.execute(
            sa.select(Record.record_id, Record.block_number).where(
                Record.state == "confirmed", Record.block_number > head
            )
        ).all()
        calls = session.execute(
            sa.select(RelayedCall.id, RelayedCall.block_number).where(
                RelayedCall.state == "mined", RelayedCall.block_number > head
            )
        ).all()
    if not records and not calls:
        return 0
    head = int(rpc(w3, "eth_blockNumber", []), 16)
    lost_records = [row[0] for row in records if row[1] > head]
    lost_calls = [row[0] for row in calls if row[1] > head]
    if not lost_records and not lost_calls:
        return 0
    with session_factory.begin() as session:
        connection = session.connection()
        if lost_records:
            table = Record.__table__
            connection.execute(
                sa.update(table)
                .where(table.c.record_id.in_(lost_records), table.c.state == "confirmed")
                .values(state="pending")
            )
        if lost_calls:
            table = RelayedCall.__table__
            connection.execute(
                sa.update(table)
                .where(table.c.id.in_(lost_calls), table.c.state == "mined")
                .values(state="sent", block_number=None)
            )
    log.warning(
        "the chain's head %d is below %d acknowledged record(s) and %d relayed call(s): "
        "the chain lost them; the healer sends them again",
        head,
        len(lost_records),
        len(lost_calls),
    )
    return len(lost_records) + len(lost_calls)


def common_ancestor(connection: Connection, w3: Web3, chain_id: int, below: int) -> int:
    """The highest indexed block ≤ ``below`` whose stored hash the chain still has
    (-1 when none does: everything indexed is gone)."""
    table = IndexedBlock.__table__
    upper = below
    while True:
        rows = connection.execute(
            sa.select(table.c.number, table.c.hash)
            .where(table.c.chain_id == chain_id, table.c.number <= upper)
            .order_by(table.c.number.desc())
            .limit(_BATCH)
        ).all()
        if not rows:
            return -1
        chain = block_hashes(w3, [int(n) for n, _ in rows])
        for number, stored in rows:
            if chain.get(int(number)) == str(stored).lower():
                return int(number)
        upper = int(rows[-1][0]) - 1


def _event_tables() -> list[sa.Table]:
    return [
        t for t in Base.metadata.sorted_tables if t.name not in _SPECIAL and "block_number" in t.c
    ]


def rewind(
    connection: Connection, chain_id: int, ancestor: int, contracts: Sequence[str]
) -> dict[str, Any]:
    """Rewind the index to ``ancestor`` (see the module docstring); returns what changed."""
    changed: dict[str, Any] = {"ancestor": ancestor}
    for table in reversed(_event_tables()):  # children before parents (foreign keys)
        if "updated_block" in table.c:
            guard = {"updated_block": ancestor}
            if "updated_log_index" in table.c:
                guard["updated_log_index"] = -1
            connection.execute(
                sa.update(table).where(table.c.updated_block > ancestor).values(**guard)
            )
        deleted = connection.execute(
            sa.delete(table).where(table.c.block_number > ancestor)
        ).rowcount
        if deleted:
            changed[table.name] = deleted
    # a version's status is derived from its status events: what vanished must not linger
    changed["marketplace_versions_recomputed"] = marketplace_events.recompute(connection)
    records = Record.__table__
    reopened = connection.execute(
        sa.update(records)
        .where(records.c.state == "confirmed", records.c.block_number > ancestor)
        .values(state="pending", updated_block=None, updated_log_index=None)
    ).rowcount
    connection.execute(
        sa.update(records)
        .where(records.c.updated_block > ancestor)
        .values(updated_block=ancestor, updated_log_index=-1)
    )
    changed["records_reopened"] = reopened
    calls = RelayedCall.__table__
    changed["calls_reopened"] = connection.execute(
        sa.update(calls)
        .where(calls.c.state == "mined", calls.c.block_number > ancestor)
        .values(state="sent", block_number=None)
    ).rowcount
    blocks = IndexedBlock.__table__
    connection.execute(
        sa.delete(blocks).where(blocks.c.chain_id == chain_id, blocks.c.number > ancestor)
    )
    cursors = IndexerCursor.__table__
    connection.execute(
        sa.update(cursors)
        .where(
            cursors.c.chain_id == chain_id,
            cursors.c.contract.in_(list(contracts)),
            cursors.c.last_block > ancestor,
        )
        .values(last_block=ancestor, last_log_index=-1)
    )
    log.warning("chain rolled back: index rewound to block %d: %s", ancestor, changed)
    return changed
