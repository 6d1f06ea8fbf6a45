"""Server limits as the SDK meets them: sessions expire (here after 2 s) and the SDK signs in
again by itself; an upload over the size limit is one clear ApiError and registers nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from clients.sdk import MedLedgerClient
from clients.sdk.errors import ApiError
from tests.clients.conftest import LiveStack

SESSION_TTL = 2
MAX_UPLOAD = 256 * 1024


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"session_ttl_seconds": SESSION_TTL, "max_upload_bytes": MAX_UPLOAD}


def test_an_expired_session_is_renewed_transparently(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    with MedLedgerClient(live_stack.url, account=stack.cardiologist) as doctor:
        assert doctor.token is None
        assert doctor.me()["abe_attributes"]  # the first call signs in
        first = doctor.token
        time.sleep(SESSION_TTL + 1)
        again = doctor.me()  # 401 session_expired → sign in → repeated
        assert "dept:cardiology" in again["abe_attributes"]
        assert doctor.token not in (None, first)
        doctor.logout()
        assert doctor.token is None
        doctor.logout()  # idempotent
        # the ended session cannot be used any more; the client signs in afresh
        assert doctor.me()["address"] == stack.cardiologist.address


def test_an_upload_over_the_limit_is_refused_with_its_code(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        with pytest.raises(ApiError) as refused:
            patient.share(
                bytes(MAX_UPLOAD),
                patient=stack.patient.address,
                policy="dept:cardiology",
                record_type="Scan",
            )
        assert (refused.value.status, refused.value.code) == (413, "payload_too_large")
        assert "\n" not in str(refused.value)
        assert patient.list_records(stack.patient.address).total == 0
        small = patient.share(
            bytes(1000), patient=stack.patient.address, policy="dept:cardiology", record_type="Scan"
        )
        assert patient.list_records(stack.patient.address).items == [small]
