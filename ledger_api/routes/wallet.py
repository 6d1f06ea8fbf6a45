"""``/wallet/``: the patient wallet web app, served as static files from ``wallet_dir``.

The app is a Vite single-page app under ``clients/webwallet`` that ``make wallet`` builds into
``clients/webwallet/dist`` (not committed). The API only serves those files: it never imports
``clients``. Whether the app is built is checked on every request (one ``stat``), so building
it while the API runs is enough, and an unbuilt app answers one clear 503 page saying how to
build it rather than a bare 404.

Every answer carries a strict Content-Security-Policy: the page holds the patient's encrypted
key in ``localStorage``, so only our own scripts may run there and it may only talk to this
API (``connect-src 'self'``), and no other site may frame it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

MOUNT_PATH = "/wallet"

# 'wasm-unsafe-eval' lets the page compile WebAssembly (mcl-wasm: decryption in the page
# needs pairings) and nothing else: JavaScript eval stays forbidden.
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedLedger wallet not built</title></head>
<body><h1>The wallet web app is not built</h1>
<p>钱包网页应用尚未构建。Run <code>make wallet</code> in the MedLedger checkout (it builds
<code>clients/webwallet</code> into <code>{wallet_dir}</code>), or point
<code>MEDLEDGER_WALLET_DIR</code> at a built copy, then reload this page.</p></body></html>
"""


class WalletFiles:
    """ASGI app: the built files with ``index.html`` for directories, or the not-built page.

    Shared by the wallet and the workstation (``routes/workstation.py``): each passes its
    mount path, its CSP and its not-built page."""

    def __init__(
        self,
        wallet_dir: Path,
        *,
        mount_path: str = MOUNT_PATH,
        csp: str = CSP,
        not_built_page: str = NOT_BUILT_PAGE,
    ) -> None:
        self.wallet_dir = wallet_dir
        self.mount_path = mount_path
        self.csp = csp
        self.not_built_page = not_built_page
        self.files = StaticFiles(directory=wallet_dir, html=True, check_dir=False)

    def is_built(self) -> bool:
        return (self.wallet_dir / "index.html").is_file()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", self.csp.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if not scope["path"].startswith(f"{self.mount_path}/assets/"):
                    # index.html names the hashed assets of the current build: always revalidate
                    headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        if not self.is_built():
            page = self.not_built_page.format(wallet_dir=self.wallet_dir)
            response = HTMLResponse(page, status_code=503)
            await response(scope, receive, send_with_headers)
            return
        await self.files(scope, receive, send_with_headers)


def mount_wallet(app: FastAPI, wallet_dir: Path) -> None:
    """Serve the wallet at ``/wallet/`` (``/wallet`` redirects there)."""
    app.mount(MOUNT_PATH, WalletFiles(wallet_dir), name="wallet")
