"""A circuit breaker per third-party service: fail fast while it is down, probe to recover.

Closed: calls go through; ``failures`` consecutive failures open it. Open: calls fail at once
with :class:`CircuitOpenError` for ``reset_s`` seconds. Then half-open: one probe call goes
through; success closes the circuit, failure opens it again for another ``reset_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from clients.gateway.errors import CircuitOpenError, UpstreamError

T = TypeVar("T")


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failures: int = 5,
        reset_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = failures
        self.reset_s = reset_s
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.reset_s:
            return "half-open"
        return "open"

    def call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            state = self._state()
            if state == "open" or (state == "half-open" and self._probing):
                wait = self.reset_s - (self.clock() - (self._opened_at or 0.0))
                raise CircuitOpenError(
                    f"{self.name}: circuit open after {self._failures} failures; "
                    f"next try in {max(0.0, wait):.1f} s"
                )
            if state == "half-open":
                self._probing = True
        try:
            result = fn()
        except Exception:
            with self._lock:
                self._failures += 1
                self._probing = False
                if self._failures >= self.threshold or self._opened_at is not None:
                    self._opened_at = self.clock()
            raise
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False
        return result


class RetryableError(Exception):
    """An attempt that failed in a way worth trying again (timeout, outage, 429, 5xx)."""


def call_with_retries(
    name: str,
    breaker: CircuitBreaker,
    attempt_once: Callable[[], T],
    *,
    retries: int,
    backoff_s: float,
) -> T:
    """``attempt_once`` through ``breaker``, retried with exponential backoff on
    :class:`RetryableError`; :class:`UpstreamError` once the retries are spent. An open
    circuit fails at once (no retry)."""
    attempt = 0
    while True:
        try:
            return breaker.call(attempt_once)
        except CircuitOpenError:
            raise
        except RetryableError as exc:
            if attempt >= retries:
                raise UpstreamError(f"{name}: {exc} (after {attempt + 1} attempts)") from None
            time.sleep(backoff_s * (2**attempt))
            attempt += 1
