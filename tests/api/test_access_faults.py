"""No log, no bytes: when the chain is gone, reads fail with 503 and serve nothing.

This module runs a node of its own and stops it in the middle of the test (a real outage,
not a simulated one). Principals are cached for the test's duration so that the requests
get past authentication and reach the access decision, which needs the chain.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from ledger_api.chain.anvil import AnvilProcess
from storage.models import AccessEvent
from tests.api.conftest import Stack


@pytest.fixture
def anvil(fresh_anvil: AnvilProcess) -> AnvilProcess:
    """These tests stop or kill the chain: each gets its own (``api_stack`` runs on it)."""
    return fresh_anvil


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"principal_cache_seconds": 600.0}


def test_reads_without_a_chain_are_503_and_serve_nothing(
    api_stack: Stack, anvil: AnvilProcess
) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", b"{}")
    shared = stack.upload(
        stack.patient, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert shared.status_code == 201, shared.text
    rid = shared.json()["record_id"]
    patient, doctor = stack.login(stack.patient), stack.login(stack.cardiologist)
    chart = f"/patients/{stack.patient.address}/records"
    assert stack.client.get(chart, headers=doctor).status_code == 403  # principal now cached
    with stack.ctx.sessions() as db:
        logged_before = len(list(db.scalars(sa.select(AccessEvent))))

    anvil.stop(kill=True)

    for headers, path in (
        (patient, f"/records/{rid}/body"),
        (patient, f"/records/{rid}/header"),
        (doctor, f"/records/{rid}/body"),
        (doctor, f"/records/{rid}"),
        (doctor, chart),
    ):
        response = stack.client.get(path, headers=headers)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["error"]["code"] == "chain_unavailable"
        assert body not in response.content
        assert header not in response.content
    with stack.ctx.sessions() as db:
        assert len(list(db.scalars(sa.select(AccessEvent)))) == logged_before
    # Metadata the patient owns needs no chain: still answered from the index.
    own = stack.client.get(f"/records/{rid}", headers=patient)
    assert own.status_code == 200
    assert json.loads(own.content)["record_id"] == rid
