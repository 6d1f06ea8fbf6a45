"""The authorisation endpoint as a browser document: hand the request to the launching page.

An app navigates its frame to ``authorization_endpoint?…`` as OAuth prescribes. The consent
screen cannot be a page of its own here: approving means signing ``AppAuthorization`` with the
user's key, which lives only in the workstation's (or wallet's) memory. So the endpoint, loaded
as a document without a session, answers this small page. It runs in the app's frame on the
API's origin (the page's own), passes the request's query to the page that opened the frame
(``postMessage`` to that one origin), and the page shows the consent dialog, signs, and then
points the frame at the redirect URI with the code (``docs/marketplace.md``).
"""

from __future__ import annotations

import secrets

from fastapi.responses import HTMLResponse

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>MedLedger 应用授权 · App authorisation</title></head>
<body style="font-family:sans-serif;margin:2em;color:#303133">
<p id="wait">请在打开此应用的 MedLedger 页面中确认授权。<br>
Approve this app in the MedLedger page that opened it.</p>
<p id="alone" hidden>此授权请求须从 MedLedger 工作站或钱包中启动应用时发出。<br>
This authorisation request must come from an app launched in the MedLedger workstation or
wallet.</p>
<script nonce="{nonce}">
(function () {{
  var target = window.parent !== window ? window.parent : window.opener;
  if (!target) {{
    document.getElementById("wait").hidden = true;
    document.getElementById("alone").hidden = false;
    return;
  }}
  target.postMessage(
    {{ messageType: "smart.authorize", query: location.search.slice(1) }},
    location.origin
  );
}})();
</script></body></html>
"""


def wants_page(accept: str, authorization: str | None) -> bool:
    """A browser navigation (HTML accepted) without the page's session bearer."""
    return not authorization and "text/html" in accept


def authorize_page() -> HTMLResponse:
    """The hand-over page, with a CSP allowing only its own script, framed by its origin."""
    nonce = secrets.token_urlsafe(16)
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
    return HTMLResponse(
        _PAGE.format(nonce=nonce),
        headers={
            "content-security-policy": csp,
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        },
    )
