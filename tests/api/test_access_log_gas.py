"""The access-log queue reuses the gas of its first transaction of a size and the block time
the node puts in the receipt's logs: fewer round trips per read, the same facts on chain and
in the index."""

from __future__ import annotations

import sqlalchemy as sa

from crypto.signing import Purpose
from ledger_api.chain.access_log import AccessEntry
from ledger_api.services.access import Reason, access_queue, decide_and_log
from ledger_api.services.access_queue import GAS_MARGIN, AccessLogQueue
from ledger_api.services.auth import read_principal
from storage.models import AccessEvent, Record
from tests.api.conftest import Stack
from tests.api.signing_client import signed_read


def entry(stack: Stack, n: int) -> AccessEntry:
    return AccessEntry(
        record_id=bytes([n]) * 32,
        accessor=stack.gp.address,
        purpose=Purpose.TREATMENT,
        granted=False,
        reason_code=int(Reason.NO_CONSENT),
    )


def test_later_log_transactions_reuse_the_first_ones_gas(api_stack: Stack) -> None:
    stack = api_stack
    queue = AccessLogQueue(stack.ctx.chain.access_log)
    first = queue.submit(entry(stack, 1))
    used = stack.w3.eth.get_transaction_receipt(first.tx_hash)["gasUsed"]
    second = queue.submit(entry(stack, 2))

    sent = stack.w3.eth.get_transaction(second.tx_hash)
    assert sent["gas"] == int(used * GAS_MARGIN)  # no estimate: the cached limit
    assert stack.w3.eth.get_transaction_receipt(second.tx_hash)["status"] == 1
    for logged in (first, second):
        block = stack.w3.eth.get_block(logged.block_number)
        assert logged.block_time == block["timestamp"]


def test_the_index_row_carries_the_block_time_of_its_log(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", b"{}")
    shared = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert shared.status_code == 201, shared.text
    ctx = stack.ctx
    gp = read_principal(ctx=ctx, address=stack.gp.address)
    with ctx.sessions() as db:
        row = db.get(Record, "0x" + record_id.hex())
        assert row is not None
        decisions = [
            decide_and_log(
                ctx=ctx,
                db=db,
                principal=gp,
                record=row,
                purpose=Purpose.TREATMENT,
                signed=signed_read(ctx, stack.gp, row.record_id, purpose=int(purpose)),
            )
            for purpose in (Purpose.TREATMENT, Purpose.RESEARCH)  # two distinct denials
        ]
    # the second read went out with the cached limit
    assert access_queue(ctx).cached_gas(1) is not None
    with ctx.sessions() as db:
        events = {e.tx_hash: e for e in db.scalars(sa.select(AccessEvent))}
    for decision in decisions:
        assert not decision.granted
        assert decision.tx_hash is not None
        event = events[decision.tx_hash.lower()]
        block = stack.w3.eth.get_block(event.block_number)
        assert event.block_time == block["timestamp"]
        assert event.log_index == decision.log_index
