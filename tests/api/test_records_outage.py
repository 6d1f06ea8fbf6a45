"""A share while the chain node is down: 503, the row stays ``pending``, nothing is lost.

The module's node keeps its state in a file; it is stopped before the upload and started
again afterwards (same port, same chain), then the API restarts and its reconciler registers
the pending record. Principals are cached so the upload gets past authentication while the
node is down.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from ledger_api.chain.anvil import AnvilProcess
from ledger_api.services.reconciler import find_registration
from storage.models import Record
from tests.api.conftest import Stack


@pytest.fixture
def anvil(fresh_anvil: AnvilProcess) -> AnvilProcess:
    """These tests stop or kill the chain: each gets its own (``api_stack`` runs on it)."""
    return fresh_anvil


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"principal_cache_seconds": 600.0, "indexer_enabled": False}


def test_share_during_an_outage_is_pending_then_registered_on_restart(
    api_stack: Stack, anvil: AnvilProcess
) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", b'{"a": 1}')
    headers = stack.login(stack.cardiologist)
    assert stack.client.get(f"/records/0x{'11' * 32}", headers=headers).status_code == 404

    anvil.stop()  # SIGTERM: the node writes its state file on exit
    response = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "chain_unavailable"
    assert response.json()["error"]["details"]["state"] == "pending"
    with stack.ctx.sessions() as db:
        (row,) = db.scalars(sa.select(Record))
    assert row.state == "pending"
    assert stack.ctx.store.is_pinned(row.body_cid)

    anvil.start()
    assert not stack.ctx.chain.records.exists(record_id)
    stack.restart()
    with stack.ctx.sessions() as db:
        (row,) = db.scalars(sa.select(Record))
    assert row.state == "confirmed"
    event = find_registration(ctx=stack.ctx, record_id=row.record_id)
    assert event is not None
    assert event.args["bodyCid"] == row.body_cid
    assert stack.ctx.store.verify(row.body_cid) >= 1
