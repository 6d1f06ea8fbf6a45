"""Blocks a re-key replaced: kept pinned for the audit, then released.

A re-key registers a new header (and body) for a record; the blocks of the version it replaced
are no longer what readers are served (the API serves only a record's current CIDs), but an
auditor may have to prove what the record held before (DESIGN "Audit"; medical records are
kept for years). So they stay pinned until ``retain_until`` (``superseded_retention_seconds``,
7 years by default) and only then become eligible for the block store's garbage collection.
:func:`sweep` runs after each re-key and at start-up; it is idempotent and cheap (one indexed
range query).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.services.reconciler import release_blocks
from storage.models import RetainedBlock

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["retain", "sweep"]


def retain(
    *, db: Session, cids: Iterable[str], record_id: str, version: int, until: int
) -> list[str]:
    """Keep ``cids`` (of ``record_id``'s ``version``) pinned until ``until``; the caller
    commits. Returns the CIDs, in order."""
    kept = list(dict.fromkeys(cids))
    for cid in kept:
        db.merge(RetainedBlock(cid=cid, record_id=record_id, version=version, retain_until=until))
    return kept


def sweep(*, ctx: AppContext, db: Session, now: int | None = None) -> list[str]:
    """Release the retained blocks whose retention ended (unless still used); commits."""
    now = int(time.time()) if now is None else now
    expired = db.execute(
        sa.select(RetainedBlock.cid, RetainedBlock.record_id, RetainedBlock.version).where(
            RetainedBlock.retain_until <= now
        )
    ).all()
    if not expired:
        db.commit()
        return []
    for cid, record_id, version in expired:
        db.execute(
            sa.delete(RetainedBlock).where(
                RetainedBlock.cid == cid,
                RetainedBlock.record_id == record_id,
                RetainedBlock.version == version,
            )
        )
    db.flush()
    released = release_blocks(ctx=ctx, db=db, cids=[row[0] for row in expired], record_id=None)
    db.commit()
    return released
