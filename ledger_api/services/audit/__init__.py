"""Audit: the access log as the index mirrors it, and verification of everything against chain.

- :mod:`.access_events`: listing access decisions from the index, and who may;
- :mod:`.key_issuances`: attribute keys issued, per authority and per day (the charts);
- :mod:`.verification`: ``GET /audit/verify``, which re-reads the chain in chunks of blocks
  and compares it with the index (:mod:`.index_records`, :mod:`.index_workflow`,
  :mod:`.index_identity`), the block store (:mod:`.bodies`) and, for every logged read, the
  reader's signature and the grant's justification (:mod:`.reads`).

The route imports this package as ``service``; the names below are its whole surface.
"""

from __future__ import annotations

from ledger_api.services.audit.access_events import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    AccessEventPage,
    list_access_events,
    require_auditor,
    require_log_reader,
)
from ledger_api.services.audit.key_issuances import key_issuance_stats
from ledger_api.services.audit.report import VerifyReport
from ledger_api.services.audit.verification import verify

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "AccessEventPage",
    "VerifyReport",
    "key_issuance_stats",
    "list_access_events",
    "require_auditor",
    "require_log_reader",
    "verify",
]
