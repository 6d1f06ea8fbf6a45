"""Crash safety of a share: a failure between storing blocks and registering on chain.

The stack's first app carries a hook that raises right after the blocks are stored and the
``pending`` row is committed — the process "dies" there. The indexer is off in this module so
that only the reconciler can settle what is left. A restart (a new app on the same chain,
block store and database) runs the reconciler at start-up, as production does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from crypto import envelope
from crypto.signing import sign
from ledger_api.hooks import Hooks
from ledger_api.services.reconciler import find_registration, reconcile_pending
from ledger_api.services.registration import signed_registration
from storage.models import Record
from storage.unixfs import compute_cid
from tests.api.conftest import Stack

PLAINTEXT = json.dumps({"resourceType": "DiagnosticReport", "status": "final"}).encode()


class SimulatedCrashError(RuntimeError):
    """Raised by the hook: the process stops between the block store and the chain."""


CRASHED: list[bytes] = []
ARMED = {"crash": True}


def crash(record_id: bytes) -> None:
    CRASHED.append(record_id)
    if ARMED["crash"]:
        raise SimulatedCrashError(record_id.hex())


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"indexer_enabled": False}


@pytest.fixture
def stack_hooks() -> Hooks:
    CRASHED.clear()
    ARMED["crash"] = True
    return Hooks(after_blocks_stored=crash)


def crashed_upload(stack: Stack) -> tuple[bytes, Record]:
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    stack.login(stack.cardiologist)
    with pytest.raises(SimulatedCrashError):
        stack.upload(
            stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
        )
    assert [record_id] == CRASHED
    row = only_row(stack)
    assert row.state == "pending"
    assert not stack.ctx.chain.records.exists(record_id)
    assert stack.ctx.store.has(row.body_cid)
    assert stack.ctx.store.has(row.header_cid)
    return record_id, row


def only_row(stack: Stack) -> Record:
    with stack.ctx.sessions() as db:
        (row,) = db.scalars(sa.select(Record))
        return row


def test_restart_registers_a_pending_record_whose_blocks_exist(api_stack: Stack) -> None:
    stack = api_stack
    _, pending = crashed_upload(stack)

    stack.restart()  # start-up runs the reconciler
    row = only_row(stack)
    assert row.state == "confirmed"
    assert row.tx_hash is not None
    event = find_registration(ctx=stack.ctx, record_id=row.record_id)
    assert event is not None
    assert event.tx_hash.lower() == row.tx_hash
    assert event.args["bodyCid"] == pending.body_cid
    assert event.args["headerCid"] == pending.header_cid
    assert event.args["author"] == stack.cardiologist.address
    for cid in (event.args["bodyCid"], event.args["headerCid"]):
        assert stack.ctx.store.verify(cid) >= 1

    # The record is whole: its patient reads and decrypts it through the API.
    headers = stack.login(stack.patient)
    header = stack.client.get(f"/records/{row.record_id}/header", headers=headers)
    body = stack.client.get(f"/records/{row.record_id}/body", headers=headers)
    assert header.status_code == body.status_code == 200
    own = stack.patient_key(stack.patient)
    assert envelope.decrypt_bytes_v3(header.content, body.content, patient_key=own) == PLAINTEXT


def test_restart_fails_a_pending_record_whose_blocks_are_gone(api_stack: Stack) -> None:
    stack = api_stack
    record_id, pending = crashed_upload(stack)
    store = stack.ctx.store
    store.unpin(pending.body_cid)
    store.unpin(pending.header_cid)
    store.gc()
    assert not store.has(pending.body_cid)
    head = stack.w3.eth.block_number

    stack.restart()
    assert only_row(stack).state == "failed"
    assert not stack.ctx.chain.records.exists(record_id)
    assert stack.w3.eth.block_number == head  # nothing was sent
    # A failed upload is not a record for readers.
    response = stack.client.get(f"/records/0x{record_id.hex()}", headers=stack.login(stack.patient))
    assert response.status_code == 404


def test_registration_that_reached_the_chain_is_confirmed_from_it(api_stack: Stack) -> None:
    stack = api_stack
    _, pending = crashed_upload(stack)
    # The crash came after the transaction was sent: the chain has it, the row does not.
    mined = stack.ctx.chain.records.register(*signed_registration(pending)).wait()

    report = reconcile_pending(ctx=stack.ctx)
    assert report.confirmed == [pending.record_id]
    assert report.registered == report.failed == report.left_pending == []
    row = only_row(stack)
    assert row.state == "confirmed"
    assert row.tx_hash == mined.tx_hash.lower()
    assert row.block_number == mined.block_number
    registered = stack.ctx.chain.records.contract.events.RecordRegistered.get_logs(
        from_block=stack.deployment.block_number
    )
    assert len(registered) == 1
    # Nothing is left for a second run.
    assert reconcile_pending(ctx=stack.ctx).confirmed == []


def test_client_retry_of_a_pending_share_finishes_it(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    stack.login(stack.cardiologist)
    with pytest.raises(SimulatedCrashError):
        stack.upload(
            stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
        )
    ARMED["crash"] = False  # the same process, the fault gone
    _, other_header, other_body = stack.make_record(
        stack.patient, "dept:cardiology", b"other", record_id=record_id
    )
    clash = stack.upload(
        stack.cardiologist,
        record_id=record_id,
        patient=stack.patient,
        header=other_header,
        body=other_body,
    )
    assert clash.status_code == 409, clash.text
    assert only_row(stack).state == "pending"
    retry = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert retry.status_code == 201, retry.text
    assert retry.json()["state"] == "confirmed"
    assert only_row(stack).state == "confirmed"
    assert stack.ctx.chain.records.exists(record_id)
    assert reconcile_pending(ctx=stack.ctx).confirmed == []


def register_elsewhere(stack: Stack, record_id: bytes, header: bytes, body: bytes) -> str:
    """Another replica registers ``record_id`` (its index row is not in ours yet)."""
    registration = stack.registration(
        record_id=record_id, patient=stack.patient.address, header=header, body=body
    )
    signature = sign(stack.registry_domain, registration, stack.cardiologist.key)
    mined = stack.ctx.chain.records.register(registration, signature).wait()
    return mined.tx_hash


def test_an_id_registered_elsewhere_is_settled_from_the_chain(api_stack: Stack) -> None:
    stack = api_stack
    ARMED["crash"] = False
    # Same content registered by another replica: our upload is an idempotent success.
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    tx_hash = register_elsewhere(stack, record_id, header, body)
    same = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert same.status_code == 200, same.text
    assert same.json()["tx_hash"] == tx_hash.lower()
    assert same.json()["state"] == "confirmed"

    # Other content under the id: 409; the row takes the chain's content, our blocks go.
    other_id, other_header, other_body = stack.make_record(stack.patient, "role:doctor", b"x")
    register_elsewhere(stack, other_id, other_header, other_body)
    _, mine_header, mine_body = stack.make_record(
        stack.patient, "role:doctor", b"mine", record_id=other_id
    )
    clash = stack.upload(
        stack.cardiologist,
        record_id=other_id,
        patient=stack.patient,
        header=mine_header,
        body=mine_body,
    )
    assert clash.status_code == 409, clash.text
    with stack.ctx.sessions() as db:
        row = db.get(Record, "0x" + other_id.hex())
        assert row is not None
    assert row.state == "confirmed"
    assert row.body_cid == str(compute_cid(other_body))
    assert not stack.ctx.store.is_pinned(str(compute_cid(mine_body)))
