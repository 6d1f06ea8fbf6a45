"""Stored blocks against the chain's digests: the half of ``/audit/verify`` about the store.

For each record's current version (its latest ``RecordRegistered`` / ``RecordRekeyed`` /
``RecordBodyRekeyed`` in the range, see :func:`current_versions`) the body is streamed from the
block store (which checks every block against its CID as it reads) and re-hashed with SHA-256;
the result must equal the ``bodyHash`` in the event itself — never the index's copy, which may
be what was altered. The header's DAG is walked and verified too. Each failure names the
record, the CID and whether the block is missing, corrupt (hash differs from its CID) or intact
but not the body the chain committed to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ledger_api.indexer.decode import ChainEvent
from storage.blocks import BlockStore
from storage.errors import BlockNotFoundError, IntegrityError, StorageError


def check_bodies(store: BlockStore, registered: Sequence[ChainEvent]) -> list[dict[str, Any]]:
    """Every registered record's blocks are present, intact, and hash to the chain's digest."""
    problems: list[dict[str, Any]] = []
    for e in registered:
        record_id, body_cid, header_cid = e.args["id"], e.args["bodyCid"], e.args["headerCid"]
        digest = hashlib.sha256()
        try:
            for chunk in store.get(body_cid):
                digest.update(chunk)
        except BlockNotFoundError as exc:
            problems.append(_body(record_id, "body_missing", body_cid, str(exc)))
        except IntegrityError as exc:
            problems.append(_body(record_id, "body_corrupt", body_cid, str(exc)))
        except StorageError as exc:
            problems.append(_body(record_id, "body_unreadable", body_cid, str(exc)))
        else:
            actual = "0x" + digest.hexdigest()
            if actual != e.args["bodyHash"]:
                problem = _body(record_id, "body_hash_mismatch", body_cid, "")
                problems.append(problem | {"expected": e.args["bodyHash"], "actual": actual})
        try:
            store.verify(header_cid)
        except BlockNotFoundError as exc:
            problems.append(_body(record_id, "header_missing", header_cid, str(exc)))
        except StorageError as exc:
            problems.append(_body(record_id, "header_corrupt", header_cid, str(exc)))
    return problems


_VERSIONED = ("RecordRegistered", "RecordRekeyed", "RecordBodyRekeyed")


def current_versions(events: Sequence[ChainEvent]) -> tuple[list[ChainEvent], list[ChainEvent]]:
    """Per record, the blocks its latest version in the range names: ``(with a body,
    header only)``.

    A re-key unpins the blocks it replaced, so the store may rightly have lost them: only the
    newest header and body of each record (as of the range's end) must be present. A record
    whose body was registered before the range and only re-wrapped inside it has just its new
    header to check."""
    latest: dict[str, dict[str, Any]] = {}
    last_event: dict[str, ChainEvent] = {}
    for e in events:
        if e.name not in _VERSIONED:
            continue
        key = e.args["id"]
        state = latest.setdefault(key, {"id": key})
        state["headerCid"] = e.args["headerCid"]
        if "bodyCid" in e.args:
            state["bodyCid"] = e.args["bodyCid"]
            state["bodyHash"] = e.args["bodyHash"]
        last_event[key] = e
    with_body: list[ChainEvent] = []
    header_only: list[ChainEvent] = []
    for key, state in latest.items():
        folded = replace(last_event[key], args=state)
        (with_body if "bodyCid" in state else header_only).append(folded)
    return with_body, header_only


def check_headers(store: BlockStore, events: Sequence[ChainEvent]) -> list[dict[str, Any]]:
    """The header blocks of records re-wrapped in the range (their body predates it)."""
    problems: list[dict[str, Any]] = []
    for e in events:
        record_id, cid = e.args["id"], e.args["headerCid"]
        try:
            store.verify(cid)
        except BlockNotFoundError as exc:
            problems.append(_header(record_id, "header_missing", cid, str(exc)))
        except StorageError as exc:
            problems.append(_header(record_id, "header_corrupt", cid, str(exc)))
    return problems


def _header(record_id: str, problem: str, cid: str, detail: str) -> dict[str, Any]:
    return {"record_id": record_id, "problem": problem, "cid": cid, "detail": detail}


def _body(record_id: str, problem: str, cid: str, detail: str) -> dict[str, Any]:
    return {"record_id": record_id, "problem": problem, "cid": cid, "detail": detail}
