"""The event indexer: follows every MedLedger contract from a stored cursor.

Loop: read the cursor, take the next block range up to ``head - confirmations``, fetch its logs
with one standard ``eth_getLogs`` (address list + block range: any EVM node answers it), decode
them, and write the index rows *and* the new cursor in one transaction. A crash between
ranges therefore loses nothing and duplicates nothing: the next run starts from the cursor that
was committed with the data. Replaying a range is harmless too (see
:mod:`ledger_api.indexer.apply`).

Confirmations: a block is only indexed once ``confirmations`` blocks sit on top of it (0 on
anvil, a few on a QBFT chain where finality is immediate anyway, more on a chain with reorgs).

Rollbacks: the hash of every indexed block is stored with the range; each pass first checks
the hash at the cursor (one call) and, when the chain rolled back or reorganised, rewinds the
index to the common ancestor (:mod:`ledger_api.indexer.rollback`) before going on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

import contracts
from ledger_api.chain.connection import chain_id as read_chain_id
from ledger_api.chain.connection import rpc, rpc_batch
from ledger_api.chain.errors import ChainError, RpcError
from ledger_api.indexer.apply import apply_events
from ledger_api.indexer.decode import ChainEvent, EventDecoder
from ledger_api.indexer.errors import (
    ChainBehindError,
    ChainMovedError,
    IndexerConfigError,
    IndexerError,
)
from ledger_api.indexer.rollback import (
    block_hashes,
    common_ancestor,
    reopen_above_head,
    reopen_vanished,
    rewind,
    store_hashes,
)
from storage.errors import StorageError
from storage.models import IndexedBlock, IndexerCursor

log = logging.getLogger(__name__)

CONTRACT_NAMES = contracts.NAMES
DEFAULT_BATCH_BLOCKS = 2_000
_MIN_SPLIT = 1
_BLOCK_BATCH = 200


@dataclass(frozen=True, slots=True)
class RangeResult:
    """What one committed range contained; handed to ``on_range_committed``."""

    from_block: int
    to_block: int
    events: int


def contract_addresses(deployment: Any) -> dict[str, str]:
    """``{contract name: address}`` from a deployment object or mapping.

    Accepts a plain mapping, or an object exposing one as ``addresses`` / ``contracts``, or
    attributes named after the contracts (``record_registry`` or ``RecordRegistry``); names
    without an address are simply not followed (e.g. a chain without ``Workflow``).
    """
    source: Any = deployment
    for attr in ("addresses", "contracts"):
        inner = getattr(deployment, attr, None)
        if isinstance(inner, Mapping):
            source = inner
            break
    found: dict[str, str] = {}
    for name in CONTRACT_NAMES:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        value = None
        if isinstance(source, Mapping):
            value = source.get(name) or source.get(snake)
        else:
            value = getattr(source, snake, None) or getattr(source, name, None)
        if value is not None and not isinstance(value, str):
            value = getattr(value, "address", None)
        if value:
            found[name] = str(value).lower()
    if not found:
        raise IndexerConfigError(f"the deployment names no MedLedger contract: {deployment!r}")
    return found


def deployment_start_block(deployment: Any) -> int:
    """The first block worth scanning (the deployment's block when it says so, else 0)."""
    for attr in ("start_block", "block_number", "deployed_at_block", "from_block"):
        value = (
            deployment.get(attr)
            if isinstance(deployment, Mapping)
            else getattr(deployment, attr, None)
        )
        if isinstance(value, int):
            return value
    return 0


def load_abis(names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """ABIs from the committed build artifacts (``contracts.load``)."""
    import contracts

    abis: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        try:
            artifact = contracts.load(name)
        except (contracts.UnknownContractError, OSError, ValueError) as exc:
            raise IndexerConfigError(f"no build artifact for {name}: {exc}") from exc
        abi = artifact["abi"] if isinstance(artifact, Mapping) else getattr(artifact, "abi", None)
        if not isinstance(abi, list):
            raise IndexerConfigError(f"the artifact of {name} has no ABI list")
        abis[name] = abi
    return abis


def block_times(w3: Web3, logs: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Timestamps of the blocks that have logs.

    Taken from the logs' ``blockTimestamp`` where the node includes it (anvil, recent geth),
    else read with batched ``eth_getBlockByNumber`` calls (Besu, older nodes).
    """
    times: dict[int, int] = {}
    wanted: set[int] = set()
    for entry in logs:
        number = int(entry["blockNumber"], 16)
        stamp = entry.get("blockTimestamp")
        if stamp is not None:
            times[number] = int(stamp, 16)
        else:
            wanted.add(number)
    missing = sorted(wanted - times.keys())
    for i in range(0, len(missing), _BLOCK_BATCH):
        chunk = missing[i : i + _BLOCK_BATCH]
        blocks = rpc_batch(w3, [("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
        for number, block in zip(chunk, blocks, strict=True):
            if isinstance(block, Exception) or block is None:
                raise IndexerError(f"cannot read block {number}: {block}")
            times[number] = int(block["timestamp"], 16)
    return times


class Indexer:
    """Mirror MedLedger's contract events into the relational index.

    ``on_range_committed`` is called after each range's transaction commits; an exception it
    raises stops the indexer right there (tests use it to simulate a crash between ranges).
    """

    def __init__(
        self,
        w3: Web3,
        deployment: Any,
        session_factory: sessionmaker[Session],
        *,
        confirmations: int = 0,
        batch_blocks: int = DEFAULT_BATCH_BLOCKS,
        start_block: int | None = None,
        abis: Mapping[str, list[dict[str, Any]]] | None = None,
        on_range_committed: Callable[[RangeResult], None] | None = None,
    ) -> None:
        if confirmations < 0:
            raise IndexerConfigError(f"confirmations must be ≥ 0, got {confirmations}")
        if batch_blocks < 1:
            raise IndexerConfigError(f"batch_blocks must be ≥ 1, got {batch_blocks}")
        self.w3 = w3
        self.session_factory = session_factory
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.on_range_committed = on_range_committed
        self.addresses = contract_addresses(deployment)
        self.start_block = (
            start_block if start_block is not None else deployment_start_block(deployment)
        )
        abis = dict(abis) if abis is not None else load_abis(list(self.addresses))
        missing = [name for name in self.addresses if name not in abis]
        if missing:
            raise IndexerConfigError(f"no ABI for {', '.join(missing)}")
        self.decoder = EventDecoder(
            {address: (name, abis[name]) for name, address in self.addresses.items()}
        )
        self.chain_id = read_chain_id(w3)
        self._address_list = sorted(self.addresses.values())
        # called with what a rewind changed (the healer re-sends what vanished)
        self.on_rewind: Callable[[dict[str, Any]], None] | None = None
        self.rewinds = 0

    # -------------------------------------------------------------- cursor

    def cursor(self) -> int:
        """The last block fully indexed for every followed contract (start - 1 if none)."""
        with self.session_factory() as session:
            rows = session.execute(
                sa.select(IndexerCursor.contract, IndexerCursor.last_block).where(
                    IndexerCursor.chain_id == self.chain_id,
                    IndexerCursor.contract.in_(self._address_list),
                )
            ).all()
        done = {contract: block for contract, block in rows}
        if len(done) < len(self._address_list):
            return self.start_block - 1
        return min(done.values())

    def _store_cursor(self, session: Session, block: int, last_log_index: int) -> None:
        table = IndexerCursor.__table__
        names = {address: name for name, address in self.addresses.items()}
        existing = set(
            session.scalars(
                sa.select(IndexerCursor.contract).where(
                    IndexerCursor.chain_id == self.chain_id,
                    IndexerCursor.contract.in_(self._address_list),
                )
            )
        )
        values = {"last_block": block, "last_log_index": last_log_index}
        if existing:
            # Never backwards: a second indexer on the same database (another API replica)
            # that lags behind must not undo this one's progress.
            session.execute(
                sa.update(table)
                .where(
                    table.c.chain_id == self.chain_id,
                    table.c.contract.in_(existing),
                    table.c.last_block < block,
                )
                .values(**values)
            )
        fresh = [a for a in self._address_list if a not in existing]
        if fresh:
            session.execute(
                sa.insert(table),
                [
                    {"chain_id": self.chain_id, "contract": a, "name": names[a], **values}
                    for a in fresh
                ],
            )

    # -------------------------------------------------------------- chain reads

    def safe_head(self) -> int:
        """The newest block with enough confirmations to be treated as final."""
        return int(rpc(self.w3, "eth_blockNumber", []), 16) - self.confirmations

    def _get_logs(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        """All logs of our contracts in the range; halves the range if the node refuses it."""
        params = [
            {"address": self._address_list, "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        ]
        try:
            return list(rpc(self.w3, "eth_getLogs", params) or [])
        except RpcError:
            if to_block - from_block + 1 <= _MIN_SPLIT:
                raise
            middle = (from_block + to_block) // 2
            log.info("eth_getLogs %d-%d refused; splitting", from_block, to_block)
            return self._get_logs(from_block, middle) + self._get_logs(middle + 1, to_block)

    # -------------------------------------------------------------- indexing

    def check_rollback(self) -> int | None:
        """Rewind the index if the chain lost or replaced indexed blocks; returns the common
        ancestor rewound to, or None when the chain still has the indexed tip."""
        cursor = self.cursor()
        # acknowledged from a receipt in a block the chain no longer has (above its head)
        reopen_above_head(self.session_factory, self.w3)
        with self.session_factory() as session:
            tip = session.execute(
                sa.select(IndexedBlock.number, IndexedBlock.hash)
                .where(IndexedBlock.chain_id == self.chain_id, IndexedBlock.number <= cursor)
                .order_by(IndexedBlock.number.desc())
                .limit(1)
            ).first()
        if tip is None:
            return None
        number, stored = int(tip[0]), str(tip[1]).lower()
        if block_hashes(self.w3, [number])[number] == stored:
            return None
        with self.session_factory.begin() as session:
            connection = session.connection()
            ancestor = max(common_ancestor(connection, self.w3, self.chain_id, number), -1)
            changed = rewind(connection, self.chain_id, ancestor, self._address_list)
        self.rewinds += 1
        if self.on_rewind is not None:
            self.on_rewind(changed)
        return ancestor

    def _index_range(self, from_block: int, to_block: int) -> int:
        logs = self._get_logs(from_block, to_block)
        hashes = block_hashes(self.w3, list(range(from_block, to_block + 1)))
        for entry in logs:  # the logs and the hashes must come from the same chain
            number = int(entry["blockNumber"], 16)
            if str(entry.get("blockHash", "")).lower() != hashes.get(number):
                raise ChainMovedError(f"block {number} changed while it was read; retrying")
        if any(h is None for h in hashes.values()):
            raise ChainMovedError(f"blocks {from_block}-{to_block} vanished while read; retrying")
        times = block_times(self.w3, logs)
        events: list[ChainEvent] = []
        for entry in logs:
            if entry.get("removed"):
                continue
            event = self.decoder.decode(entry, times[int(entry["blockNumber"], 16)])
            if event is not None:
                events.append(event)
        events.sort(key=lambda e: e.position)
        last_log = events[-1].log_index if events and events[-1].block_number == to_block else -1
        with self.session_factory.begin() as session:
            apply_events(session.connection(), events)
            store_hashes(session.connection(), self.chain_id, hashes)  # type: ignore[arg-type]
            reopen_vanished(
                session.connection(),
                from_block,
                to_block,
                record_ids=[e.args["id"] for e in events if e.name == "RecordRegistered"],
                tx_hashes=sorted({e.tx_hash for e in events}),
            )
            self._store_cursor(session, to_block, last_log)
        if self.on_range_committed is not None:
            self.on_range_committed(RangeResult(from_block, to_block, len(events)))
        return len(events)

    def run_once(self, *, until: int | None = None) -> int:
        """Index every final block not yet indexed (up to ``until``); returns events applied."""
        self.check_rollback()
        target = self.safe_head()
        if until is not None:
            target = min(target, until)
        cursor = self.cursor()
        applied = 0
        while cursor < target:
            to_block = min(cursor + self.batch_blocks, target)
            applied += self._index_range(cursor + 1, to_block)
            cursor = to_block
        return applied

    def run_until(self, block: int, *, timeout: float = 30.0, poll_interval: float = 0.1) -> int:
        """Index up to ``block``, waiting (≤ ``timeout`` s) for the chain to make it final."""
        deadline = time.monotonic() + timeout
        applied = self.run_once(until=block)
        while self.cursor() < block:
            if time.monotonic() >= deadline:
                raise ChainBehindError(
                    f"block {block} not final within {timeout:.1f} s "
                    f"(indexed up to {self.cursor()}, confirmations {self.confirmations})"
                )
            time.sleep(poll_interval)
            applied += self.run_once(until=block)
        return applied

    def run_forever(self, stop_event: threading.Event, poll_interval: float = 1.0) -> None:
        """Keep the index up to date until ``stop_event`` is set.

        Node and database hiccups are logged and retried after ``poll_interval``; errors that
        retrying cannot fix (bad configuration, undecodable events, a raising hook) end the
        loop by propagating.
        """
        while not stop_event.is_set():
            try:
                self.run_once()
            except (ChainError, ChainMovedError, StorageError, sa.exc.OperationalError) as exc:
                log.warning("indexer pass failed, retrying in %.1f s: %s", poll_interval, exc)
            stop_event.wait(poll_interval)
