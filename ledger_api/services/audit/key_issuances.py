"""Key issuances per authority: what ``GET /audit/key-issuances`` answers.

Every attribute key an institution's authority issues is logged on chain by its signer
(``Consortium.KeyIssued``: institution, holder, issuer, the hash of the attribute list, the
epoch; chains made before issue 16 also hold the former central authority's
``AccessLog.KeyIssued``) and mirrored by the indexer into
``key_issuances``. An auditor charts them per authority (an institution's authority should
issue only to its own members, at a rate that matches its staff) and per day; each authority
row names its last issuance's transaction, so a spike leads to the chain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from eth_utils import to_checksum_address
from sqlalchemy.orm import Session

from ledger_api.principal import Principal
from ledger_api.services.audit.access_events import _seconds, require_auditor
from storage.models import KeyIssuance

__all__ = ["key_issuance_stats"]

MAX_DAYS = 400  # rows of the per-day series, newest kept


def key_issuance_stats(
    *,
    db: Session,
    principal: Principal,
    since: datetime | int | None = None,
    until: datetime | int | None = None,
) -> dict[str, Any]:
    """Counts per issuing authority (and per UTC day and authority) within the window;
    ``since`` inclusive, ``until`` exclusive (block time). Auditors and the consortium admin."""
    require_auditor(principal)
    where: list[Any] = []
    start, stop = _seconds(since), _seconds(until)
    if start is not None:
        where.append(KeyIssuance.block_time >= start)
    if stop is not None:
        where.append(KeyIssuance.block_time < stop)
    per_issuer = db.execute(
        sa.select(
            KeyIssuance.issuer,
            sa.func.count(),
            sa.func.count(sa.distinct(KeyIssuance.holder)),
            sa.func.max(KeyIssuance.block_number),
        )
        .where(*where)
        .group_by(KeyIssuance.issuer)
        .order_by(sa.func.count().desc(), KeyIssuance.issuer)
    ).all()
    by_issuer = []
    for issuer, count, holders, last_block in per_issuer:
        last_tx = db.scalar(
            sa.select(KeyIssuance.tx_hash)
            .where(KeyIssuance.issuer == issuer, KeyIssuance.block_number == last_block, *where)
            .order_by(KeyIssuance.log_index.desc())
            .limit(1)
        )
        by_issuer.append(
            {
                "issuer": to_checksum_address(issuer),
                "count": int(count),
                "holders": int(holders),
                "last_block": int(last_block),
                "last_tx_hash": last_tx,
            }
        )
    day = (KeyIssuance.block_time - KeyIssuance.block_time % 86_400).label("day")
    per_day = db.execute(
        sa.select(day, KeyIssuance.issuer, sa.func.count())
        .where(*where)
        .group_by(day, KeyIssuance.issuer)
        .order_by(day.desc(), KeyIssuance.issuer)
        .limit(MAX_DAYS * max(1, len(by_issuer)))
    ).all()
    by_day = [
        {
            "day": datetime.fromtimestamp(int(d), tz=UTC).date().isoformat(),
            "issuer": to_checksum_address(issuer),
            "count": int(count),
        }
        for d, issuer, count in reversed(per_day)
    ]
    return {"total": sum(r["count"] for r in by_issuer), "by_issuer": by_issuer, "by_day": by_day}
