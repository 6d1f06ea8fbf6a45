"""A registration the chain refuses: the row is ``failed``, the blocks are released, 403.

The API's view of a member may lag the chain by the principal cache window; the contract
checks authorship itself. Here the cache is made long on purpose and the cardiologist is
suspended after their principal was cached, so the API accepts the upload and the chain
refuses it (``RecordRegistryNotAuthor``): exactly the path a real race takes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from storage.models import Record
from tests.api.conftest import Stack


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"principal_cache_seconds": 600.0}


def test_chain_refusal_marks_failed_and_releases_blocks(api_stack: Stack) -> None:
    stack = api_stack
    plaintext = json.dumps({"resourceType": "Observation"}).encode()
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", plaintext)
    headers = stack.login(stack.cardiologist)
    me = stack.client.get(f"/patients/{stack.patient.address}/records", headers=headers)
    assert me.status_code == 403  # no consent; but the principal (an active doctor) is cached
    stack.admin_consortium.suspend_member(account=stack.cardiologist.address).wait()

    response = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "not_author"
    assert error["details"]["revert"] == "RecordRegistryNotAuthor"
    assert not stack.ctx.chain.records.exists(record_id)
    with stack.ctx.sessions() as db:
        (row,) = db.scalars(sa.select(Record))
    assert row.state == "failed"
    assert not stack.ctx.store.is_pinned(row.body_cid)
    assert not stack.ctx.store.is_pinned(row.header_cid)
    stack.ctx.store.gc()  # unpinned and unreferenced: collected
    assert not stack.ctx.store.has(row.body_cid)

    # A failed id can be shared again by someone the chain accepts (the patient).
    retry = stack.upload(
        stack.patient, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert retry.status_code == 201, retry.text
    assert retry.json()["author"] == stack.patient.address
    assert stack.ctx.store.is_pinned(retry.json()["body_cid"])
