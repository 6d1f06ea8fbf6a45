"""A workflow move while the chain is gone: 503 ``chain_unavailable``, nothing written.

This module runs a node of its own and kills it mid-test (a real outage). Principals are
cached for the test so that requests get past authentication and reach the workflow rules,
which read the chain's state before anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger_api.chain.anvil import AnvilProcess
from tests.api.conftest import Stack
from tests.api.test_referrals import DEPT_POLICY, act, create, referral_body
from tests.api.workflow_support import error_code, read, share


@pytest.fixture
def anvil(fresh_anvil: AnvilProcess) -> AnvilProcess:
    """These tests stop or kill the chain: each gets its own (``api_stack`` runs on it)."""
    return fresh_anvil


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"principal_cache_seconds": 600.0}


def test_moves_without_a_chain_are_503_and_change_nothing(
    api_stack: Stack, anvil: AnvilProcess
) -> None:
    s = api_stack
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    body = referral_body(s, reason_id=reason_id, record_ids=[])
    rid = create(s, referral_body(s, reason_id=reason_id, record_ids=[]))["referral_id"]
    for who in (s.gp, s.cardiologist):  # sessions and principals cached while the chain is up
        assert s.client.get(f"/referrals/{rid}", headers=s.login(who)).status_code == 200
    shown = s.client.get(f"/referrals/{rid}", headers=s.login(s.gp)).json()

    anvil.stop(kill=True)

    for response in (
        act(s, s.cardiologist, rid, "accept"),
        act(s, s.gp, rid, "cancel"),
        s.client.post("/referrals", json=body, headers=s.login(s.gp)),
        s.client.get("/consultations", headers=s.login(s.cardiologist)),
        read(s, s.cardiologist, reason_id, "referral"),
    ):
        assert response.status_code == 503, response.text
        assert error_code(response) == "chain_unavailable"
    # the index still answers what it knows, unchanged
    assert s.client.get(f"/referrals/{rid}", headers=s.login(s.gp)).json() == shown
