"""``/apps/<name>/``: the reference SMART apps (``clients/smartapps``), served as static files.

A vendor's app lives on the vendor's own origin; these are the demo's and the tests'. The demo
lists them in the marketplace with URLs on another host name than the workstation's
(``localhost`` against ``127.0.0.1``), so each app runs on an origin of its own and reaches
records only through the launching page's bridge (``docs/marketplace.md``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

MOUNT_PATH = "/apps"

# an app may call any SMART server (the iss it is launched with) and may be framed by any EHR
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src *; object-src 'none'; base-uri 'self'"
)


class SmartAppFiles:
    """The apps' static files, with their own CSP and no caching of the HTML."""

    def __init__(self, apps_dir: Path) -> None:
        self.files = StaticFiles(directory=apps_dir, html=True, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", APP_CSP.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, send_with_headers)


def mount_smart_apps(app: FastAPI, apps_dir: Path) -> None:
    """Serve the reference apps at ``/apps/``."""
    app.mount(MOUNT_PATH, SmartAppFiles(apps_dir), name="smart-apps")
