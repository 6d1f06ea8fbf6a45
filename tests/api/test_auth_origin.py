"""SIWE binds a signature to this server: scheme, URI (origin) and resources are checked.

EIP-4361's ``domain`` alone does not stop a phishing page: a wallet shows the page's own
``URI`` and scheme, and a server that ignores them accepts what was signed for another site.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crypto import siwe
from storage.models import ApiSession, SiweNonce
from tests.api.conftest import Stack


def _login(stack: Stack, message: siwe.SiweMessage) -> tuple[int, str]:
    signature = siwe.sign(message, stack.patient.key)
    response = stack.client.post(
        "/auth/login", json={"message": message.text(), "signature": "0x" + signature.hex()}
    )
    code = response.json()["error"]["code"] if response.status_code != 200 else "ok"
    return response.status_code, code


def _unused(stack: Stack, nonce: str) -> bool:
    with stack.ctx.sessions() as db:
        row = db.get(SiweNonce, nonce)
        return row is not None and row.used_at is None


def _sessions(stack: Stack) -> int:
    with stack.ctx.sessions() as db:
        return db.scalar(sa.select(sa.func.count()).select_from(ApiSession)) or 0


def test_the_phishing_message_of_the_issue_is_refused(api_stack: Stack) -> None:
    message = api_stack.siwe_message(
        api_stack.patient, scheme="evil", uri="https://phish.example/login"
    )
    assert message.text().startswith("evil://localhost wants you")
    assert _login(api_stack, message) == (401, "siwe_domain")
    assert _unused(api_stack, message.nonce)  # a refused message spends nothing
    assert _sessions(api_stack) == 0


@pytest.mark.parametrize(
    "uri",
    [
        "https://phish.example/login",
        "https://localhost",  # another scheme: another origin
        "http://localhost:8080",  # another port
        "http://localhost.evil.example",
        "http://evil.example/?next=http://localhost",
        "urn:localhost",
    ],
)
def test_a_uri_of_another_origin_is_refused(api_stack: Stack, uri: str) -> None:
    message = api_stack.siwe_message(api_stack.patient, uri=uri)
    assert _login(api_stack, message) == (401, "siwe_uri")
    assert _unused(api_stack, message.nonce)


@pytest.mark.parametrize("scheme", ["https", "evil", "javascript"])
def test_a_scheme_other_than_the_servers_is_refused(api_stack: Stack, scheme: str) -> None:
    message = api_stack.siwe_message(api_stack.patient, scheme=scheme)
    assert _login(api_stack, message) == (401, "siwe_domain")


def test_the_servers_own_scheme_uri_and_paths_sign_in(api_stack: Stack) -> None:
    message = api_stack.siwe_message(
        api_stack.patient,
        scheme="http",
        uri="http://localhost:80/wallet/",
        resources=("http://localhost/records",),
    )
    assert _login(api_stack, message) == (200, "ok")


def test_a_resource_of_another_origin_is_refused(api_stack: Stack) -> None:
    message = api_stack.siwe_message(
        api_stack.patient, resources=("http://localhost/x", "https://phish.example/steal")
    )
    assert _login(api_stack, message) == (401, "siwe_uri")
    assert _unused(api_stack, message.nonce)


@pytest.fixture
def stack_settings() -> dict[str, object]:
    return {"siwe_allowed_resources": ["ipfs://"]}


def test_resources_under_an_allowed_prefix_sign_in(api_stack: Stack) -> None:
    message = api_stack.siwe_message(api_stack.patient, resources=("ipfs://bafybeigdyrzt",))
    assert _login(api_stack, message) == (200, "ok")
