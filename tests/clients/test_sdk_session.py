"""Sessions expire on the server (here after 2 s); the SDK signs in again by itself, once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from clients.sdk import MedLedgerClient
from tests.clients.conftest import LiveStack

SESSION_TTL = 2


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"session_ttl_seconds": SESSION_TTL}


def test_an_expired_session_is_renewed_transparently(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    with MedLedgerClient(live_stack.url, account=stack.cardiologist) as doctor:
        assert doctor.token is None
        assert doctor.me()["abe_attributes"]  # the first call signs in
        first = doctor.token
        time.sleep(SESSION_TTL + 1)
        key = doctor.fetch_user_key()  # 401 session_expired → sign in → repeated
        assert "dept:cardiology" in key.attributes
        assert doctor.token not in (None, first)
        doctor.logout()
        assert doctor.token is None
        doctor.logout()  # idempotent
        # the ended session cannot be used any more; the client signs in afresh
        assert doctor.me()["address"] == stack.cardiologist.address
