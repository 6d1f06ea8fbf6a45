"""What the API acknowledged and cannot put back on chain, kept for ``/audit/verify``.

Both the healer (a relayed call that now reverts) and the reconciler (a record whose signed
registration expired before it could be sent again) list such losses here; a module of its
own so that neither imports the other.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import sqlalchemy as sa

from storage.models import Unhealed

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["note_unhealed"]

log = logging.getLogger("ledger_api.healer")


def note_unhealed(ctx: AppContext, *, kind: str, key: str, reason: str, repair: str) -> None:
    """List something the healer cannot put back (``/audit/verify`` reports it)."""
    table = Unhealed.__table__
    with ctx.engine.begin() as connection:
        connection.execute(sa.delete(table).where(table.c.kind == kind, table.c.key == key))
        connection.execute(
            sa.insert(table).values(
                kind=kind, key=key, reason=reason[:64], repair=repair[:500], found_at=time.time()
            )
        )
    log.error("unhealed %s %s: %s", kind, key, reason)
