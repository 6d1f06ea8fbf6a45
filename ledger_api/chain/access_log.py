"""Typed wrapper of ``AccessLog``: every read decision, granted or denied, goes on chain,
and so do key issuances and the key authority's membership epochs.

Only the relayer may log (the contract fixes its address at deployment), so this wrapper's
sender is the API's relayer. A batch is the natural unit when the API flushes decisions it
collected over a short window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crypto.signing import Purpose
from ledger_api.chain.contract import (
    BoundContract,
    PendingTx,
    check_address,
    check_batch,
    check_bytes32,
    check_uint,
)

MAX_BATCH = 64


@dataclass(frozen=True, kw_only=True)
class AccessEntry:
    """One decision: who asked for which record, why, and the outcome (reason code)."""

    record_id: bytes
    accessor: str
    purpose: Purpose | int
    granted: bool
    reason_code: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            check_bytes32(self.record_id, "record_id"),
            check_address(self.accessor, "accessor"),
            check_uint(int(self.purpose), 8, "purpose"),
            bool(self.granted),
            check_uint(self.reason_code, 16, "reason_code"),
        )


class AccessLog(BoundContract):
    NAME = "AccessLog"

    def log_access(self, entry: AccessEntry, *, gas: int | None = None) -> PendingTx:
        return self._write("logAccess", *entry.as_tuple(), gas=gas)

    def log_access_batch(
        self, entries: Sequence[AccessEntry], *, gas: int | None = None
    ) -> PendingTx:
        check_batch(entries, MAX_BATCH, "entries")
        return self._write("logAccessBatch", [e.as_tuple() for e in entries], gas=gas)

    def log_key_issued(self, *, holder: str, attributes_hash: bytes, epoch: int) -> PendingTx:
        return self._write(
            "logKeyIssued",
            check_address(holder, "holder"),
            check_bytes32(attributes_hash, "attributes_hash"),
            check_uint(epoch, 64, "epoch"),
        )

    def log_epoch_advanced(self, *, epoch: int, reason: bytes) -> PendingTx:
        """Move the key authority to membership epoch ``epoch`` (must be current + 1)."""
        return self._write(
            "logEpochAdvanced", check_uint(epoch, 64, "epoch"), check_bytes32(reason, "reason")
        )

    def current_epoch(self) -> int:
        """The membership epoch record policies are written with now (1 before any advance)."""
        return int(self._read("currentEpoch"))

    def relayer(self) -> str:
        return str(self._read("relayer"))
