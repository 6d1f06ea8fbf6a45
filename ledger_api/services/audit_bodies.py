"""Stored blocks against the chain's digests: the half of ``/audit/verify`` about the store.

For each ``RecordRegistered`` event the body is streamed from the block store (which checks
every block against its CID as it reads) and re-hashed with SHA-256; the result must equal
the ``bodyHash`` in the event itself — never the index's copy, which may be what was altered.
The header's DAG is walked and verified too. Each failure names the record, the CID and
whether the block is missing, corrupt (hash differs from its CID) or intact but not the body
the chain committed to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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


def _body(record_id: str, problem: str, cid: str, detail: str) -> dict[str, Any]:
    return {"record_id": record_id, "problem": problem, "cid": cid, "detail": detail}
