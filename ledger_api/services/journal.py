"""The journal of relayed calls: what the healer sends again after a chain rollback.

Consents, revocations, access entries and workflow steps carry their actor's signature in their
calldata, so keeping ``(tx_hash, target, calldata, gas)`` is enough to send them again, as they
are, if the chain forgets them (:mod:`ledger_api.services.healer`). Records are not journalled:
their row and pinned blocks are their journal. Kept apart from the healer so that the
application context can wire it into the relayer without importing the services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import sqlalchemy as sa

from storage.models import RelayedCall

__all__ = ["journal_calls"]

log = logging.getLogger("ledger_api.healer")


def journal_calls(
    engine: sa.Engine,
    *,
    registry: str,
    relayer: str,
    calls: Sequence[tuple[str, str, bytes, int]],
) -> None:
    """Keep ``(tx_hash, to, calldata, gas)`` of relayed calls (records, sent to ``registry``,
    excluded). A failure is logged, not raised: the action itself went out."""
    rows = [
        {
            "tx_hash": tx_hash,
            "relayer": relayer,
            "target": to,
            "data": data,
            "gas": gas,
            "sent_at": time.time(),
            "state": "sent",
            "sends": 1,
        }
        for tx_hash, to, data, gas in calls
        if to.lower() != registry.lower()
    ]
    if not rows:
        return
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(RelayedCall.__table__), rows)
    except sa.exc.SQLAlchemyError:
        log.exception("could not journal %d relayed call(s)", len(rows))
