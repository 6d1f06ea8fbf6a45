"""Structured logs: one JSON object per line, one access line per request.

Named ``log`` (not ``logging``) so that ``import logging`` inside the package keeps meaning
the standard library. JSON because the consortium's log shippers parse fields, not prose;
``MEDLEDGER_LOG_JSON=false`` gives plain lines for a developer's terminal.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from ledger_api.metrics import Metrics

ACCESS_LOGGER = "ledger_api.access"
_HANDLER_NAME = "medledger-structured"
# attributes every LogRecord has; anything else passed via ``extra=`` becomes a JSON field
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(*, json_lines: bool = True, level: int = logging.INFO) -> None:
    """Attach one handler to the ``ledger_api`` logger (idempotent; replaces our own only)."""
    logger = logging.getLogger("ledger_api")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    logger.addHandler(handler)
    logger.setLevel(level)


class RequestLogMiddleware:
    """Pure ASGI middleware: request id, one access log line and the request metrics.

    Pure ASGI rather than ``BaseHTTPMiddleware`` so streamed bodies pass through untouched
    and the latency covers the whole body. The caller's address is whatever the principal
    dependency put into ``request.state.caller`` (``scope["state"]``).
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what the client gets if the app fails before starting a response

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, status, started, request_id)

    def _record(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        seconds = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        method = str(scope.get("method", ""))
        self.metrics.observe_request(method=method, route=template, status=status, seconds=seconds)
        self.log.info(
            "%s %s %d",
            method,
            scope.get("path", ""),
            status,
            extra={
                "method": method,
                "path": scope.get("path", ""),
                "route": template,
                "status": status,
                "ms": round(seconds * 1000, 2),
                "caller": scope.get("state", {}).get("caller"),
                "request_id": request_id,
            },
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text = value.decode("latin-1").strip()
            # an id from outside goes into our logs: keep it short and printable
            if text and len(text) <= 128 and text.isprintable():
                return text
    return None
