"""The API's same-origin relays to an institution's key authority pass on only what an
authority answers: a URL an institution's admin put on chain must not turn the API into a proxy
that reads other services' answers back (a rogue admin pointing it at an internal service)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.api.conftest import Stack

SECRET_PAGE = b"<html>internal admin console: secret=42</html>"


class _NotAnAuthority(BaseHTTPRequestHandler):
    """An internal service that answers every GET and POST with an HTML page."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(SECRET_PAGE)))
        self.end_headers()
        self.wfile.write(SECRET_PAGE)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *_args: object) -> None:  # keep the test output quiet
        return


@pytest.fixture
def internal_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAnAuthority)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_relays_refuse_what_is_not_an_authority_answer(
    api_stack: Stack, internal_service: str
) -> None:
    # the cd3h admin (the stack's admin) registers its "authority" at an internal service
    api_stack.admin_consortium.register_authority(
        institution_id=api_stack.cd3h,
        pubkey_digest=hashlib.sha256(b"not a key").digest(),
        signer=api_stack.admin.address,
        url=internal_service,
    ).wait()

    public = api_stack.client.get(f"/keys/authorities/{api_stack.cd3h}/public-key")
    assert public.status_code == 502
    assert public.json()["error"]["code"] == "authority_unreachable"
    assert b"secret" not in public.content

    relayed = api_stack.client.post(
        f"/keys/authorities/{api_stack.cd3h}/keys", json={"request": {"x": 1}}
    )
    assert relayed.status_code == 502
    assert relayed.json()["error"]["code"] == "authority_unreachable"
    assert b"secret" not in relayed.content

    shares = api_stack.client.post(
        f"/keys/authorities/{api_stack.cd3h}/emergency/shares", json={"request": {"x": 1}}
    )
    assert shares.status_code == 502
    assert shares.json()["error"]["code"] == "authority_unreachable"
    assert b"secret" not in shares.content


def test_relays_answer_404_for_an_institution_without_an_authority(api_stack: Stack) -> None:
    for response in (
        api_stack.client.get(f"/keys/authorities/{api_stack.qyqchc}/public-key"),
        api_stack.client.post(f"/keys/authorities/{api_stack.qyqchc}/keys", json={}),
        api_stack.client.post(f"/keys/authorities/{api_stack.qyqchc}/emergency/shares", json={}),
        api_stack.client.get("/keys/authorities/4000000/public-key"),
    ):
        assert response.status_code == 404, response.text


def test_no_emergency_key_before_a_key_ceremony(api_stack: Stack) -> None:
    response = api_stack.client.get("/keys/emergency")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "no_emergency_key"
