"""``GET /audit/verify``: re-derive what the index and the block store should hold, from chain.

The chain is the source of truth; the index is a convenience an auditor must be able to
distrust. For a block range this module re-reads every ``RecordRegistered``/``RecordRekeyed``/
``RecordBodyRekeyed``, ``ConsentGranted``/``ConsentRevoked``, ``AccessLogged`` and
``KeyIssued`` log, decodes it with the indexer's decoder (the one mapping of ABI to columns)
and compares field by field with the index, in both directions: an event without its row
(deleted or never indexed) and a row without its event (fabricated, or moved to another block)
are both reported. Then, for every record registered or re-keyed in the range, it re-hashes the
current body ciphertext from the block store against the on-chain ``bodyHash`` (taken from the
latest event carrying a body, not from the index, which may be the thing that was tampered
with) and checks that the current header's blocks are present and intact. Blocks a re-key
replaced are not required: they are unpinned once nothing references them and the store may
have collected them.

Only blocks the indexer has committed are compared with the index (its cursor is reported as
``indexed_to``); later events are counted as ``not_yet_indexed``, not as mismatches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.chain.connection import block_number, rpc
from ledger_api.http_errors import UnprocessableError
from ledger_api.indexer.decode import ChainEvent, EventDecoder
from ledger_api.indexer.runner import block_times, load_abis
from ledger_api.services.audit_bodies import check_bodies, check_headers, current_versions
from ledger_api.services.audit_index_check import IndexCheck
from storage.models import (
    IndexerCursor,
)

if TYPE_CHECKING:
    from ledger_api.context import AppContext

CONTRACTS = ("RecordRegistry", "ConsentManager", "AccessLog")
LOG_CHUNK_BLOCKS = 2_000
MAX_RANGE_BLOCKS = 1_000_000


@dataclass
class VerifyReport:
    from_block: int
    to_block: int
    indexed_to: int
    index_vs_chain: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    not_yet_indexed: int = 0

    @property
    def ok(self) -> bool:
        return not self.index_vs_chain and not self.bodies

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "from_block": self.from_block,
            "to_block": self.to_block,
            "indexed_to": self.indexed_to,
            "not_yet_indexed": self.not_yet_indexed,
            "checked": dict(self.checked),
            "index_vs_chain": list(self.index_vs_chain),
            "bodies": list(self.bodies),
        }


def verify(
    *, ctx: AppContext, db: Session, from_block: int | None = None, to_block: int | None = None
) -> VerifyReport:
    """Compare index and store with the chain over ``[from_block, to_block]`` (inclusive)."""
    head = block_number(ctx.chain.w3)
    start = ctx.deployment.block_number if from_block is None else from_block
    end = head if to_block is None else to_block
    if start < 0 or end < start or end > head:
        raise UnprocessableError(
            f"need 0 ≤ from_block ≤ to_block ≤ head ({head}), got {start}..{end}",
            code="invalid_range",
        )
    if end - start + 1 > MAX_RANGE_BLOCKS:
        raise UnprocessableError(
            f"at most {MAX_RANGE_BLOCKS} blocks per verification", code="invalid_range"
        )
    addresses = {name: ctx.deployment.address(name).lower() for name in CONTRACTS}
    indexed_to = _indexed_to(ctx, db)
    report = VerifyReport(from_block=start, to_block=end, indexed_to=indexed_to)
    events = _chain_events(ctx, addresses, start, end)
    index_end = min(end, indexed_to)
    comparable = [e for e in events if e.block_number <= index_end]
    report.not_yet_indexed = len(events) - len(comparable)
    checker = IndexCheck(db, report.index_vs_chain, report.checked)
    checker.run(comparable, start, index_end)
    current, headers_only = current_versions(events)
    report.bodies.extend(check_bodies(ctx.store, current))
    report.bodies.extend(check_headers(ctx.store, headers_only))
    report.checked["bodies"] = len(current)
    return report


def _indexed_to(ctx: AppContext, db: Session) -> int:
    """The indexer's cursor over every followed contract (the minimum; -1 if never run)."""
    followed = [a.lower() for a in ctx.deployment.addresses().values()]
    rows = db.execute(
        sa.select(IndexerCursor.contract, IndexerCursor.last_block).where(
            IndexerCursor.chain_id == ctx.deployment.chain_id,
            IndexerCursor.contract.in_(followed),
        )
    ).all()
    if len(rows) < len(followed):
        return -1
    return min(int(last) for _, last in rows)


def _chain_events(
    ctx: AppContext, addresses: dict[str, str], start: int, end: int
) -> list[ChainEvent]:
    abis = load_abis(list(addresses))
    decoder = EventDecoder({address: (name, abis[name]) for name, address in addresses.items()})
    events: list[ChainEvent] = []
    for low in range(start, end + 1, LOG_CHUNK_BLOCKS):
        high = min(low + LOG_CHUNK_BLOCKS - 1, end)
        params = [
            {"address": sorted(addresses.values()), "fromBlock": hex(low), "toBlock": hex(high)}
        ]
        logs = [
            entry
            for entry in rpc(ctx.chain.w3, "eth_getLogs", params) or []
            if not entry.get("removed")
        ]
        times = block_times(ctx.chain.w3, logs)
        for entry in logs:
            event = decoder.decode(entry, times[int(entry["blockNumber"], 16)])
            if event is not None:
                events.append(event)
    events.sort(key=lambda e: e.position)
    return events
