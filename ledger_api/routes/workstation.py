"""``/workstation/``: the clinicians' workstation and auditors' console, static files.

A Vite single-page app under ``clients/workstation`` that ``make workstation`` builds into
``clients/workstation/dist`` (not committed), served exactly like the wallet
(:class:`ledger_api.routes.wallet.WalletFiles`: a 503 page until built, a strict CSP, no
caching of ``index.html``). One difference: the page may call the GP assistant's service
(``clients/assistant``, issue 20) when ``MEDLEDGER_ASSISTANT_URL`` names it, so that origin —
and only that one — is added to ``connect-src``, and ``/workstation/config.json`` tells the
page where it is. The keys of the clinician stay in the page either way: the assistant sees
only the free text of a diagnosis or a record form, never a key or a record. Likewise
``MEDLEDGER_GATEWAY_URL``, this hospital's gateway (``clients/gateway``): its origin is added
and ``config.json`` names it (``gateway_url``, only when set), so "find a patient" can ask the
gateway's patient index (``GET /patient-index/{id}``) for a hospital patient id's wallet.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ledger_api.routes.wallet import WalletFiles

MOUNT_PATH = "/workstation"
_NETLOC = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedLedger workstation not built</title></head>
<body><h1>The workstation web app is not built</h1>
<p>医生工作站网页应用尚未构建。Run <code>make workstation</code> in the MedLedger checkout (it
builds <code>clients/workstation</code> into <code>{wallet_dir}</code>), or point
<code>MEDLEDGER_WORKSTATION_DIR</code> at a built copy, then reload this page.</p></body></html>
"""


def assistant_origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of the assistant's URL, or None (unset or not http(s))."""
    if not url:
        return None
    parts = urlsplit(url)
    # host[:port] only: nothing that could end the CSP directive or add another
    if parts.scheme not in ("http", "https") or not _NETLOC.fullmatch(parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def workstation_csp(
    assistant_url: str | None, gateway_url: str | None = None, frame_src: str = "'self'"
) -> str:
    """The wallet's policy, with the assistant's and the hospital gateway's origins (when
    configured) in connect-src, and ``frame-src`` for the SMART apps the page launches (each
    in a sandboxed frame of its own origin: it reaches data only through the page's bridge).

    'wasm-unsafe-eval' lets the page compile WebAssembly (mcl-wasm: FAME decryption in the
    page); it does not allow JavaScript eval."""
    origins = [o for o in (assistant_origin(assistant_url), assistant_origin(gateway_url)) if o]
    connect = " ".join(["'self'", *dict.fromkeys(origins)])
    return (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; connect-src {connect}; object-src 'none'; base-uri 'self'; "
        f"frame-src {frame_src}; frame-ancestors 'none'"
    )


class WorkstationFiles(WalletFiles):
    """The built app, plus ``config.json`` (the assistant's URL) answered by the API."""

    def __init__(
        self,
        workstation_dir: Path,
        assistant_url: str | None,
        gateway_url: str | None = None,
        frame_src: str = "'self'",
    ) -> None:
        super().__init__(
            workstation_dir,
            mount_path=MOUNT_PATH,
            csp=workstation_csp(assistant_url, gateway_url, frame_src),
            not_built_page=NOT_BUILT_PAGE,
        )
        origin = assistant_origin(assistant_url)
        config: dict[str, str | None] = {
            "assistant_url": assistant_url.rstrip("/") if origin and assistant_url else None
        }
        if gateway_url and assistant_origin(gateway_url):
            config["gateway_url"] = gateway_url.rstrip("/")  # named only when configured
        self.config = json.dumps(config).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == f"{MOUNT_PATH}/config.json":
            response = Response(
                self.config,
                media_type="application/json",
                headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
            )
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def mount_workstation(
    app: FastAPI,
    workstation_dir: Path,
    assistant_url: str | None,
    gateway_url: str | None = None,
    frame_src: str = "'self'",
) -> None:
    """Serve the workstation at ``/workstation/`` (``/workstation`` redirects there)."""
    files = WorkstationFiles(workstation_dir, assistant_url, gateway_url, frame_src)
    app.mount(MOUNT_PATH, files, name="workstation")
