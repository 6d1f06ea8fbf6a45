"""``GET /audit/verify``: re-derive what the index and the block store should hold, from chain.

The chain is the source of truth; the index is a convenience an auditor must be able to
distrust. For a block range this module re-reads every log of the six contracts, a chunk of
blocks at a time (:class:`~.chain_logs.ChainLogs`), decodes it with the indexer's decoder (the
one mapping of ABI to columns) and, for each chunk:

- compares it with the index, field by field and in both directions — an event without its
  row (deleted or never indexed) and a row without its event (fabricated, or moved to another
  block) are both reported: records, consents, access events, key issuances
  (:mod:`.index_records`), referrals, consultations, their transitions and opinions
  (:mod:`.index_workflow`), institutions, members and break-glass openings
  (:mod:`.index_identity`);
- verifies every ``AccessLogged`` entry's reader signature and every grant's justification
  from chain data alone (:mod:`.reads`);
- re-hashes the stored body of each record's current version against the on-chain digest
  and walks its header (:mod:`.bodies`).

Memory follows the chunk, not the range: nothing of a chunk is kept once the next is read,
index rows are fetched per chunk, and what a chunk needs from elsewhere in the chain (the
consent a read cites, a later re-key) is asked with topic-filtered ``eth_getLogs``. Only
blocks the indexer has committed are compared with the index (its cursor is ``indexed_to``);
later events are counted as ``not_yet_indexed``, not as mismatches, though their signatures,
justifications and blocks are still checked.

Resumable: a call stops at a chunk boundary when its time budget is spent or the report holds
:data:`~.report.MAX_PROBLEMS` problems; ``last_block_checked`` says where, and a call with
``from_block = last_block_checked + 1`` continues. Checking ``[a, b]`` then ``[b + 1, c]``
finds what checking ``[a, c]`` finds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session
from web3 import Web3

from ledger_api.chain.connection import block_number
from ledger_api.http_errors import UnprocessableError
from ledger_api.services.audit.bodies import StoreChecks
from ledger_api.services.audit.chain_logs import (
    DEFAULT_MAX_BLOCKS,
    DEFAULT_TARGET_LOGS,
    FOLLOWED,
    ChainLogs,
    Chunk,
)
from ledger_api.services.audit.index_identity import IdentityChecks
from ledger_api.services.audit.index_records import RecordChecks
from ledger_api.services.audit.index_workflow import WorkflowChecks
from ledger_api.services.audit.reads import ReadChecks, record_patients
from ledger_api.services.audit.report import VerifyReport
from storage.blocks import BlockStore
from storage.models import IndexerCursor, Unhealed

if TYPE_CHECKING:
    from ledger_api.chain.deploy import Deployment
    from ledger_api.context import AppContext

__all__ = ["MAX_RANGE_BLOCKS", "verify", "verify_range"]

MAX_RANGE_BLOCKS = 1_000_000


def verify(
    *, ctx: AppContext, db: Session, from_block: int | None = None, to_block: int | None = None
) -> VerifyReport:
    """Compare index and store with the chain over ``[from_block, to_block]`` (inclusive;
    the deployment's block and the chain head by default), within the call's time budget."""
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
    report = verify_range(
        w3=ctx.chain.w3,
        deployment=ctx.deployment,
        store=ctx.store,
        db=db,
        start=start,
        end=end,
        budget_seconds=ctx.settings.audit_verify_seconds,
    )
    report.unhealed = unhealed_findings(db)
    return report


def unhealed_findings(db: Session, limit: int = 1_000) -> list[dict[str, object]]:
    """What the healer could not put back (not tied to a block range: always listed)."""
    rows = db.scalars(sa.select(Unhealed).order_by(Unhealed.found_at).limit(limit))
    return [{"kind": r.kind, "key": r.key, "reason": r.reason, "repair": r.repair} for r in rows]


def verify_range(
    *,
    w3: Web3,
    deployment: Deployment,
    store: BlockStore,
    db: Session,
    start: int,
    end: int,
    budget_seconds: float = float("inf"),
    max_blocks: int = DEFAULT_MAX_BLOCKS,
    target_logs: int = DEFAULT_TARGET_LOGS,
) -> VerifyReport:
    """The verification itself, chunk by chunk (no range checks: :func:`verify` makes them)."""
    deadline = time.monotonic() + budget_seconds
    known = deployment.addresses()
    addresses = {name: known[name] for name in FOLLOWED if name in known}
    logs = ChainLogs(w3, addresses, max_blocks=max_blocks, target_logs=target_logs)
    first = deployment.block_number
    indexed_to = _indexed_to(deployment, db)
    report = VerifyReport(
        from_block=start, to_block=end, indexed_to=indexed_to, last_block_checked=start - 1
    )
    checks = _ChunkChecks(
        db, report, logs, indexed_to=indexed_to, first_block=first, chain_id=deployment.chain_id
    )
    blocks = StoreChecks(report, logs, store)
    for chunk in logs.chunks(start, end):
        checks.run(chunk)
        blocks.run(chunk.events, chunk.high, end)
        report.last_block_checked = chunk.high
        report.chunks += 1
        del chunk  # the next window is read without this one alive: memory is one chunk
        if report.last_block_checked >= end:
            break
        if report.full:
            report.stopped_because = "problem_limit"
            break
        if time.monotonic() >= deadline:
            report.stopped_because = "time_budget"
            break
    report.complete = report.last_block_checked >= end
    return report


class _ChunkChecks:
    """The chain-against-index and chain-only checks of one chunk."""

    def __init__(
        self,
        db: Session,
        report: VerifyReport,
        logs: ChainLogs,
        *,
        indexed_to: int,
        first_block: int,
        chain_id: int,
    ) -> None:
        self.db, self.report, self.logs = db, report, logs
        self.indexed_to, self.first_block = indexed_to, first_block
        self.workflow = WorkflowChecks(db, report)
        self.identity = IdentityChecks(db, report)
        self.reads = ReadChecks(report, logs, chain_id=chain_id, first_block=first_block)

    def run(self, chunk: Chunk) -> None:
        accesses = [e for e in chunk.events if e.name == "AccessLogged"]
        patients = record_patients(
            self.logs,
            {e.args["recordId"] for e in accesses},
            first_block=self.first_block,
            to_block=chunk.high,
        )
        index_end = min(chunk.high, self.indexed_to)
        comparable = [e for e in chunk.events if e.block_number <= index_end]
        self.report.not_yet_indexed += len(chunk.events) - len(comparable)
        if chunk.low <= index_end:
            records = RecordChecks(
                self.db, self.report, self.logs, first_block=self.first_block, patients=patients
            )
            records.run(comparable, chunk.low, index_end)
            self.workflow.run(comparable, chunk.low, index_end)
            self.identity.run(comparable, chunk.low, index_end)
        apps = {
            (e.tx_hash, e.log_index - 1): e for e in chunk.events if e.name == "AppAccessLogged"
        }
        self.reads.run(accesses, patients, chunk.high, apps)


def _indexed_to(deployment: Deployment, db: Session) -> int:
    """The indexer's cursor over every followed contract (the minimum; -1 if never run)."""
    followed = [a.lower() for a in deployment.addresses().values()]
    rows = db.execute(
        sa.select(IndexerCursor.contract, IndexerCursor.last_block).where(
            IndexerCursor.chain_id == deployment.chain_id,
            IndexerCursor.contract.in_(followed),
        )
    ).all()
    if len(rows) < len(followed):
        return -1
    return min(int(last) for _, last in rows)
