"""A request-body limit enforced before anything parses the body (pure ASGI middleware).

Why: FastAPI reads a JSON body whole before validating it, so without a limit a 300 MiB body
to ``POST /auth/nonce`` (no sign-in needed) took the process from 159 MiB to 1.94 GiB. Here a
body is received into a buffer of at most ``max_bytes`` (1 MiB by default,
``MEDLEDGER_MAX_JSON_BYTES``): a ``Content-Length`` over the limit is refused before a byte is
read, a chunked body as soon as it passes it, both with ``413 payload_too_large`` and the limit
in ``details``. A JSON body that is not UTF-8 is refused here too (``400 invalid_json``), in the
one error shape, instead of FastAPI's bare "There was an error parsing the body".

The two multipart routes (``POST /records``, ``POST /records/{id}/rekey``) need more and count
their own bytes as they stream (:mod:`ledger_api.services.uploads`), so they pass through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from ledger_api.http_errors import error_body
from ledger_api.inputs import is_ascii_digits
from ledger_api.log import ASGIApp, Message, Receive, Scope, Send

__all__ = ["STREAMING_ROUTES", "BodyLimitMiddleware"]

# routes that receive large multipart uploads and enforce max_upload_bytes themselves
STREAMING_ROUTES = (re.compile(r"/records"), re.compile(r"/records/[^/]+/rekey"))
# a refused body up to this size is read to its end (and dropped) so the client gets the 413
DRAIN_LIMIT = 16 * 1024 * 1024


class BodyLimitMiddleware:
    """Buffer each request body up to ``max_bytes`` and replay it to the app, or answer 413."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, streaming: Iterable[re.Pattern[str]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streaming = tuple(streaming)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope.get("method") == "POST"
            and any(p.fullmatch(scope.get("path", "")) for p in self.streaming)
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared and not is_ascii_digits(declared):
            await _answer(send, 400, "bad_content_length", "Content-Length must be ASCII digits")
            return
        if declared and int(declared) > self.max_bytes:
            if int(declared) <= DRAIN_LIMIT:
                await _drain(receive, DRAIN_LIMIT)
            await self._too_large(send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                more = message.get("more_body", False)
                body.clear()  # nothing of it is kept
                if more:
                    await _drain(receive, DRAIN_LIMIT)
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        if body and _is_json(headers.get(b"content-type", b"")):
            try:
                bytes(body).decode("utf-8")
            except UnicodeDecodeError as exc:
                await _answer(
                    send,
                    400,
                    "invalid_json",
                    "the JSON body is not valid UTF-8",
                    {"position": exc.start},
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await _answer(
            send,
            413,
            "payload_too_large",
            f"the request body is over the {self.max_bytes}-byte limit",
            {"limit": self.max_bytes},
        )


async def _drain(receive: Receive, limit: int) -> None:
    """Read and discard the rest of a refused body, up to ``limit`` bytes.

    A client still sending when the 413 arrives sees a reset connection instead of the answer;
    a modest excess is read to the end (and dropped chunk by chunk: constant memory) so the
    client gets its 413. Past ``limit`` the connection is closed on it."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        seen += len(message.get("body", b""))


def _is_json(content_type: bytes) -> bool:
    """FastAPI parses a body as JSON when it has no content type or a JSON one."""
    kind = content_type.split(b";", 1)[0].strip().lower()
    return not kind or kind == b"application/json" or kind.endswith(b"+json")


async def _answer(
    send: Send, status: int, code: str, message: str, details: dict[str, object] | None = None
) -> None:
    payload = json.dumps(error_body(code, message, details)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
