"""The registration call for a record's index row.

Both the share path (:mod:`ledger_api.services.records`) and the start-up reconciler
(:mod:`ledger_api.services.reconciler`) register a ``pending`` row on chain; the mapping from
the row to the contract call lives here, below both, so that neither imports the other.
"""

from __future__ import annotations

from ledger_api.chain.records import RecordInput
from storage.models import Record

__all__ = ["record_input"]


def record_input(row: Record) -> RecordInput:
    """The registration call for an index row (the API's pending row or the reconciler's)."""
    return RecordInput(
        id=bytes.fromhex(row.record_id[2:]),
        patient=row.patient,
        author=row.author or row.patient,
        body_cid=row.body_cid,
        header_cid=row.header_cid,
        body_hash=bytes.fromhex(row.body_sha256[2:]),
        policy_hash=bytes.fromhex(row.policy_hash[2:]),
        record_type=bytes.fromhex(row.record_type[2:]),
    )
