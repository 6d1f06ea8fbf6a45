"""CORS for the SMART endpoints a browser app calls from its own origin.

A SMART app in the browser is a public client on another origin: it fetches the discovery
document and the JWKS, registers itself (RFC 7591), exchanges its code and refreshes at the
token endpoint, and may introspect or revoke its own tokens. None of these reads a cookie
(credentials travel in the body, or as a bearer the caller already holds), so any origin may
call them; every other route keeps the same-origin policy.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORS_PATHS = frozenset(
    {
        "/.well-known/smart-configuration",
        "/smart/jwks",
        "/smart/register",
        "/smart/token",
        "/smart/introspect",
        "/smart/revoke",
    }
)
ALLOW_HEADERS = b"Authorization, Content-Type"
ALLOW_METHODS = b"GET, POST, OPTIONS"


class SmartCorsMiddleware:
    """``Access-Control-Allow-Origin: *`` on :data:`CORS_PATHS`, and their preflights."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in CORS_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-allow-methods", ALLOW_METHODS),
                        (b"access-control-allow-headers", ALLOW_HEADERS),
                        (b"access-control-max-age", b"600"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", b"*"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)
