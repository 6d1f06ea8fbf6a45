"""Coalescing access-log writes: concurrent decisions share one ``logAccessBatch``.

Every read costs one ``AccessLogged`` event, and on a consortium chain a transaction waits for
the next block (seconds). Sent one by one, N concurrent reads need N transactions; here the
first caller to arrive becomes the *leader*: it sends what is queued (up to the contract's 64)
as one transaction and waits for its receipt, while callers arriving meanwhile queue up and go
together in the next transaction. So a busy API sends about one log transaction per block,
and a quiet one sends each decision at once (no timer, no added latency).

Every caller still returns only after its own entry is mined, with the entry's exact position
(tx hash, log index) and, when the node reports it in the log (``blockTimestamp``: geth, anvil),
the block's time, so the caller writes its index row and only then serves bytes. No
background thread: the leader is always a caller, so nothing outlives the requests.

Gas: a log transaction's gas depends only on how many entries it carries (the contract only
emits events), so the gas of the first mined transaction of each size, with a margin, is used
for the later ones instead of an ``eth_estimateGas`` round trip before every read. The first
transaction of each size is still estimated, which is what reports a misconfigured relayer
(``AccessLogUnauthorized``) before anything is sent; a later revert is decoded from the receipt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger_api.chain.access_log import MAX_BATCH, AccessEntry, AccessLog, AppAccessEntry
from ledger_api.chain.coalesce import Coalescer
from ledger_api.chain.contract import Event

__all__ = ["AccessLogQueue", "LoggedEntry"]


GAS_MARGIN = 1.5  # over the gas a transaction of the same size used


@dataclass(frozen=True)
class LoggedEntry:
    """Where one entry landed on chain (``block_time`` None when the node did not say)."""

    tx_hash: str
    block_number: int
    log_index: int
    block_time: int | None = None


@dataclass
class AccessLogQueue:
    """Thread-safe; one per API process (one relayer). The leader/follower batching itself is
    :class:`~ledger_api.chain.coalesce.Coalescer`; this class decides what a flush sends."""

    access_log: AccessLog
    max_batch: int = MAX_BATCH
    receipt_timeout: float = 30.0
    # (app entries?, entries per transaction) -> gas limit
    _gas: dict[tuple[bool, int], int] = field(default_factory=dict)
    _coalescer: Coalescer[AccessEntry, LoggedEntry] = field(init=False)
    # reads made for SMART apps go through logAppAccessBatch, coalesced among themselves
    _app_coalescer: Coalescer[AppAccessEntry, LoggedEntry] = field(init=False)

    def __post_init__(self) -> None:
        self._coalescer = Coalescer(self._flush, max_batch=self.max_batch)
        self._app_coalescer = Coalescer(self._flush_apps, max_batch=self.max_batch)

    def submit(self, entry: AccessEntry | AppAccessEntry) -> LoggedEntry:
        """Log ``entry``; return once it is mined. Raises the chain error of its transaction."""
        if isinstance(entry, AppAccessEntry):
            return self._app_coalescer.submit(entry)
        return self._coalescer.submit(entry)

    def cached_gas(self, entries: int, *, app: bool = False) -> int | None:
        """The gas limit kept for transactions of ``entries`` entries (None: the next one is
        estimated)."""
        return self._gas.get((app, entries))

    def _flush(self, entries: list[AccessEntry]) -> list[LoggedEntry | BaseException]:
        """Send ``entries`` as one transaction; each gets its own event's position."""
        gas = self._gas.get((False, len(entries)))
        if len(entries) == 1:
            pending = self.access_log.log_access(entries[0], gas=gas)
        else:
            pending = self.access_log.log_access_batch(entries, gas=gas)
        return self._landed(pending, len(entries), app=False)

    def _flush_apps(self, entries: list[AppAccessEntry]) -> list[LoggedEntry | BaseException]:
        gas = self._gas.get((True, len(entries)))
        if len(entries) == 1:
            pending = self.access_log.log_app_access(entries[0], gas=gas)
        else:
            pending = self.access_log.log_app_access_batch(entries, gas=gas)
        return self._landed(pending, len(entries), app=True)

    def _landed(self, pending: Any, count: int, *, app: bool) -> list[LoggedEntry | BaseException]:
        """Each entry's ``AccessLogged`` position once the transaction is mined."""
        mined = pending.wait(timeout=self.receipt_timeout)
        self._gas.setdefault((app, count), int(mined.gas_used * GAS_MARGIN))
        times = _block_times(mined.receipt.logs)
        events: list[Event] = [e for e in mined.events if e.name == "AccessLogged"]
        if len(events) != count:
            raise RuntimeError(f"{len(events)} AccessLogged events for a batch of {count} entries")
        return [
            LoggedEntry(
                tx_hash=mined.tx_hash,
                block_number=mined.block_number,
                log_index=event.log_index,
                block_time=times.get(event.log_index),
            )
            for event in events
        ]


def _block_times(logs: list[dict[str, Any]]) -> dict[int, int]:
    """``logIndex -> blockTimestamp`` for the receipt logs that carry one."""
    times: dict[int, int] = {}
    for log in logs:
        stamp, index = log.get("blockTimestamp"), log.get("logIndex")
        if isinstance(stamp, str) and isinstance(index, str):
            times[int(index, 16)] = int(stamp, 16)
    return times
