"""Concurrent read decisions share ``logAccessBatch`` transactions, each exactly placed.

This module runs its own anvil with interval mining (a block every 0.5 s, like a consortium
chain, where a transaction waits for the next block): decisions arriving while one log
transaction waits are queued and sent together. Every decision must still come back with its
own position (tx hash, log index) holding its own event, and its own index row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crypto.signing import Purpose
from ledger_api.chain.access_log import AccessEntry, AccessLog
from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.relayer import Relayer
from ledger_api.services.access import Decision, Reason, decide_and_log
from ledger_api.services.access_queue import AccessLogQueue
from ledger_api.services.auth import read_principal
from storage.models import AccessEvent, Record
from tests.api.conftest import ADMIN_KEY, Stack
from tests.api.signing_client import signed_read
from tests.support import run_together

READERS = 12


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    node = AnvilProcess(
        port=free_port(),
        log_file=tmp_path_factory.mktemp("anvil-interval") / "anvil.log",
        extra_args=["--block-time", "0.5"],
    )
    node.start()
    yield node
    node.stop()


def test_concurrent_reads_are_batched_and_each_logged_in_place(
    api_stack: Stack, tmp_path: Path
) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", b"{}")
    shared = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert shared.status_code == 201, shared.text
    stack.grant(stack.patient, stack.gp)
    ctx = stack.ctx
    gp = read_principal(ctx=ctx, address=stack.gp.address)
    start = stack.w3.eth.block_number

    def read(_: int) -> Decision:
        with ctx.sessions() as db:
            row = db.get(Record, "0x" + record_id.hex())
            assert row is not None
            return decide_and_log(
                ctx=ctx,
                db=db,
                principal=gp,
                record=row,
                purpose=Purpose.TREATMENT,
                signed=signed_read(ctx, stack.gp, row.record_id),
            )

    decisions = run_together(READERS, read)
    assert all(isinstance(d, Decision) for d in decisions), decisions
    typed = [d for d in decisions if isinstance(d, Decision)]
    assert all(d.granted and d.reason is Reason.CONSENT for d in typed)
    positions = {(d.tx_hash, d.log_index) for d in typed}
    assert len(positions) == READERS
    transactions = {d.tx_hash for d in typed}
    assert len(transactions) < READERS  # decisions shared transactions

    # On chain: each transaction holds exactly the entries handed out for it.
    for tx_hash in transactions:
        receipt = stack.w3.eth.get_transaction_receipt(tx_hash)
        indices = sorted(log["logIndex"] for log in receipt["logs"])
        assert indices == sorted(d.log_index for d in typed if d.tx_hash == tx_hash)
    events = [e for e in stack.access_logged(from_block=start + 1) if e["recordId"] == record_id]
    assert len(events) == READERS
    assert {e["accessor"] for e in events} == {stack.gp.address}

    with ctx.sessions() as db:
        rows = list(db.scalars(sa.select(AccessEvent)))
    assert {(r.tx_hash, r.log_index) for r in rows} == {
        (tx.lower(), index) for tx, index in positions
    }


def test_a_failed_log_transaction_fails_every_waiter(api_stack: Stack) -> None:
    stack = api_stack
    # An AccessLog sending from an account that is not the relayer: the contract refuses it.
    wrong_sender = AccessLog(
        stack.w3, stack.deployment.address("AccessLog"), sender=Relayer(stack.w3, ADMIN_KEY)
    )
    queue = AccessLogQueue(wrong_sender)
    head = stack.w3.eth.block_number

    def submit(i: int) -> object:
        return queue.submit(
            AccessEntry(
                record_id=bytes([i + 1]) * 32,
                accessor=stack.gp.address,
                purpose=Purpose.TREATMENT,
                granted=False,
                reason_code=int(Reason.NO_CONSENT),
            )
        )

    outcomes = run_together(4, submit)
    assert all(isinstance(o, TransactionRevertedError) for o in outcomes), outcomes
    assert {o.error_name for o in outcomes if isinstance(o, TransactionRevertedError)} == {
        "AccessLogUnauthorized"
    }
    assert stack.access_logged(from_block=head) == []
