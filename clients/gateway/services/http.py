"""Third-party HTTP APIs: timeouts, retries with exponential backoff, a circuit breaker.

Retried: connection errors, timeouts, 429 and 5xx (idempotent methods only: a POST is retried
only when the request never reached the server). Not retried: other 4xx, which say the call
itself is wrong. Every attempt goes through the service's :class:`CircuitBreaker`, so a
service that is down costs callers one fast error instead of a timeout each.
"""

from __future__ import annotations

from typing import Any

import httpx

from clients.gateway.config.model import Connection
from clients.gateway.errors import UpstreamError
from clients.gateway.services.breaker import CircuitBreaker, RetryableError, call_with_retries

MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class HttpService:
    def __init__(
        self, connection: Connection, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.name = connection.name
        self.base_url = connection.resolved_url().rstrip("/")
        self.timeout = float(connection.setting("timeout_s", 10.0))
        self.retries = int(connection.setting("retries", 2))
        self.backoff = float(connection.setting("backoff_s", 0.2))
        breaker = connection.setting("breaker", {}) or {}
        self.breaker = CircuitBreaker(
            connection.name,
            failures=int(breaker.get("failures", 5)),
            reset_s=float(breaker.get("reset_s", 30.0)),
        )
        self.client = httpx.Client(timeout=self.timeout, transport=transport)

    def request(self, method: str, path: str, params: dict[str, Any]) -> Any:
        """Call ``method path`` with ``params`` (query for GET, JSON body otherwise)."""
        url = self.base_url + path
        return call_with_retries(
            self.name,
            self.breaker,
            lambda: self._once(method, url, params),
            retries=self.retries,
            backoff_s=self.backoff,
        )

    def _once(self, method: str, url: str, params: dict[str, Any]) -> Any:
        try:
            if method == "GET":
                response = self.client.request(method, url, params=params)
            else:
                response = self.client.request(method, url, json=params)
        except httpx.TimeoutException as exc:
            raise RetryableError(
                f"timed out after {self.timeout} s ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise RetryableError(f"cannot reach {url}: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"{method} {url} answered {response.status_code}")
        if response.status_code >= 400:
            raise UpstreamError(f"{self.name}: {method} {url} answered {response.status_code}")
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise UpstreamError(f"{self.name}: response over {MAX_RESPONSE_BYTES} bytes")
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"{self.name}: {method} {url} did not answer JSON") from None

    def close(self) -> None:
        self.client.close()
