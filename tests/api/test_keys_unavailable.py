"""An API replica without the master key: ``/keys`` says so (503), nothing else breaks."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from crypto.keys import generate_x25519_keypair
from tests.api.conftest import Stack


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"authority_passphrase": None}


def test_keys_answer_503_without_an_authority(api_stack: Stack) -> None:
    s = api_stack
    assert s.ctx.authority is None
    public = s.client.get("/keys/public")
    assert public.status_code == 503
    assert public.json()["error"]["code"] == "authority_unavailable"
    head = s.w3.eth.block_number
    key = base64.b64encode(generate_x25519_keypair().public_key).decode()
    issued = s.client.post(
        "/keys/issue", json={"x25519_public_key": key}, headers=s.login(s.cardiologist)
    )
    assert issued.status_code == 503
    assert issued.json()["error"]["code"] == "authority_unavailable"
    assert s.w3.eth.block_number == head
    assert s.client.get("/healthz").status_code == 200
