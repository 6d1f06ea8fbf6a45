"""Stored blocks against the chain's digests: the half of ``/audit/verify`` about the store.

For each record's current version as of the range's end, the body is streamed from the block
store (which checks every block against its CID as it reads) and re-hashed with SHA-256; the
result must equal the ``bodyHash`` of the event itself — never the index's copy, which may be
what was altered. The header's DAG is walked and verified too. Each failure names the record,
the CID and whether the block is missing, corrupt (hash differs from its CID) or intact but
not the body the chain committed to.

Streaming: per chunk, each record's latest ``RecordRegistered`` / ``RecordRekeyed`` /
``RecordBodyRekeyed`` is what it holds unless a later event of the range replaced it, which a
topic-filtered lookup of the rest of the range answers (a ``RecordRekeyed`` replaces the
header, a ``RecordBodyRekeyed`` both). Blocks a re-key replaced are not required here: they
are kept for the retention period, and the store may rightly have collected them after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ledger_api.indexer.decode import ChainEvent
from ledger_api.services.audit.chain_logs import ChainLogs
from ledger_api.services.audit.report import VerifyReport
from storage.blocks import BlockStore
from storage.errors import BlockNotFoundError, IntegrityError, StorageError

__all__ = ["StoreChecks", "check_bodies", "check_body", "check_header", "latest_versions"]

_VERSIONED = ("RecordRegistered", "RecordRekeyed", "RecordBodyRekeyed")
_REKEYS = (("RecordRegistry", "RecordRekeyed"), ("RecordRegistry", "RecordBodyRekeyed"))


def check_body(store: BlockStore, record_id: str, cid: str, expected: str) -> list[dict[str, Any]]:
    """The body's blocks are present, intact, and hash to the chain's digest ``expected``."""
    digest = hashlib.sha256()
    try:
        for chunk in store.get(cid):
            digest.update(chunk)
    except BlockNotFoundError as exc:
        return [_problem(record_id, "body_missing", cid, str(exc))]
    except IntegrityError as exc:
        return [_problem(record_id, "body_corrupt", cid, str(exc))]
    except StorageError as exc:
        return [_problem(record_id, "body_unreadable", cid, str(exc))]
    actual = "0x" + digest.hexdigest()
    if actual != expected:
        problem = _problem(record_id, "body_hash_mismatch", cid, "")
        return [problem | {"expected": expected, "actual": actual}]
    return []


def check_header(store: BlockStore, record_id: str, cid: str) -> list[dict[str, Any]]:
    """The header's blocks are present and intact."""
    try:
        store.verify(cid)
    except BlockNotFoundError as exc:
        return [_problem(record_id, "header_missing", cid, str(exc))]
    except StorageError as exc:
        return [_problem(record_id, "header_corrupt", cid, str(exc))]
    return []


def check_bodies(store: BlockStore, registered: Sequence[ChainEvent]) -> list[dict[str, Any]]:
    """Body and header of each event carrying both (``RecordRegistered``-shaped args)."""
    problems: list[dict[str, Any]] = []
    for e in registered:
        record_id = e.args["id"]
        problems += check_body(store, record_id, e.args["bodyCid"], e.args["bodyHash"])
        problems += check_header(store, record_id, e.args["headerCid"])
    return problems


def latest_versions(events: Sequence[ChainEvent]) -> dict[str, dict[str, Any]]:
    """Per record, the blocks its latest event among ``events`` names: ``headerCid`` always,
    ``bodyCid``/``bodyHash`` when an event of ``events`` carried a body."""
    latest: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.name not in _VERSIONED:
            continue
        state = latest.setdefault(e.args["id"], {})
        state["headerCid"] = e.args["headerCid"]
        if "bodyCid" in e.args:
            state["bodyCid"] = e.args["bodyCid"]
            state["bodyHash"] = e.args["bodyHash"]
    return latest


class StoreChecks:
    """One chunk's records against the block store, into ``report.bodies``."""

    def __init__(self, report: VerifyReport, logs: ChainLogs, store: BlockStore) -> None:
        self.report = report
        self.logs = logs
        self.store = store

    def run(self, events: Sequence[ChainEvent], high: int, end: int) -> None:
        latest = latest_versions(events)
        if not latest:
            return
        header_replaced: set[str] = set()
        body_replaced: set[str] = set()
        for later in self.logs.lookup(_REKEYS, latest, from_block=high + 1, to_block=end):
            header_replaced.add(later.args["id"])
            if later.name == "RecordBodyRekeyed":
                body_replaced.add(later.args["id"])
        checked = 0
        for record_id, state in latest.items():
            if "bodyCid" in state and record_id not in body_replaced:
                self.report.bodies.extend(
                    check_body(self.store, record_id, state["bodyCid"], state["bodyHash"])
                )
                checked += 1
            if record_id not in header_replaced:
                self.report.bodies.extend(check_header(self.store, record_id, state["headerCid"]))
        self.report.count("bodies", checked)


def _problem(record_id: str, problem: str, cid: str, detail: str) -> dict[str, Any]:
    return {"record_id": record_id, "problem": problem, "cid": cid, "detail": detail}
