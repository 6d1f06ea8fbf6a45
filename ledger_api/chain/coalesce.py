"""Coalescing concurrent chain writes: callers arriving while one batch is in flight go together.

On any chain a transaction costs a round trip to be mined (a block on a consortium chain, a
sealed block per transaction on an automining dev node), so N concurrent writers sending one
transaction each pay N blocks. Here the first caller to arrive becomes the *leader*: it takes
what is queued (up to ``max_batch``) and runs the flush function on it — typically one batch
transaction and its receipt — while callers arriving meanwhile queue up and go together in the
next flush. A busy API sends about one transaction per round trip; a quiet one sends each item
at once (no timer, no added latency).

Every caller returns only after its own item's outcome is known: the result the flush handed
back for it, or the exception raised for it (the whole flush's exception when the flush itself
failed). No background thread: the leader is always a caller, so nothing outlives the requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[list[T]], Sequence["R | BaseException"]]


@dataclass
class _Slot(Generic[T, R]):
    item: T
    done: bool = False
    result: R | None = None
    error: BaseException | None = None


class Coalescer(Generic[T, R]):
    """Thread-safe leader/follower batching of ``flush(items) -> outcome per item``.

    ``flush`` returns one outcome per item, in order: a result, or an exception instance for
    that item alone. If ``flush`` raises, every item of the batch gets that exception.
    """

    def __init__(self, flush: Flush[T, R], *, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._flush_items = flush
        self.max_batch = max_batch
        self._queue: list[_Slot[T, R]] = []
        self._flushing = False
        self._cond = threading.Condition()

    def submit(self, item: T) -> R:
        """Hand ``item`` to the next flush; return its result once known, or raise its error."""
        slot: _Slot[T, R] = _Slot(item)
        with self._cond:
            self._queue.append(slot)
        while True:
            with self._cond:
                while not slot.done and self._flushing:
                    self._cond.wait()
                if slot.done:
                    break
                self._flushing = True
                batch = self._queue[: self.max_batch]
                del self._queue[: len(batch)]
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._flushing = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set whenever error is None

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        try:
            outcomes = list(self._flush_items([s.item for s in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(batch)} items")
            for slot, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    slot.error = outcome
                else:
                    slot.result = outcome
        except BaseException as exc:  # every waiter must learn the outcome
            for slot in batch:
                slot.error = exc
        finally:
            for slot in batch:
                slot.done = True
