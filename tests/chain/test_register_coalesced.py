"""Concurrent registrations share ``registerBatch`` transactions; a bad one spoils nothing.

This module's anvil mines a block every 0.5 s (like a consortium chain), so registrations that
arrive while one is waiting for its block queue up and go together in the next transaction.
Each caller must still get its own record's ``RecordRegistered`` event, and a record the chain
refuses must fail alone, with its own custom error, while the others of its batch register.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.contract import Event
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.records import RecordInput
from tests.chain.conftest import Consortium2
from tests.support import run_together

WRITERS = 8


@pytest.fixture(scope="module")
def chain_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    log_dir: Path = tmp_path_factory.mktemp("chain-node-interval")
    node = AnvilProcess(
        port=free_port(), log_file=log_dir / "anvil.log", extra_args=["--block-time", "0.5"]
    )
    node.start()
    yield node
    node.stop()


def record(author: str, record_id: bytes | None = None) -> RecordInput:
    return RecordInput(
        id=record_id or os.urandom(32),
        patient=Account.create().address,
        author=author,
        body_cid="bafkrei" + "a" * 52,
        header_cid="bafkrei" + "b" * 52,
        body_hash=os.urandom(32),
        policy_hash=os.urandom(32),
        record_type=b"Observation".ljust(32, b"\0"),
    )


def test_concurrent_registrations_share_transactions_each_gets_its_event(
    medledger: Consortium2,
) -> None:
    registry = medledger.client.records
    inputs = [record(medledger.doctor) for _ in range(WRITERS)]

    outcomes = run_together(WRITERS, lambda i: registry.register_coalesced(inputs[i]))

    assert all(isinstance(o, Event) for o in outcomes), outcomes
    events = [o for o in outcomes if isinstance(o, Event)]
    assert [e.args["id"] for e in events] == [r.id for r in inputs]
    assert all(e.name == "RecordRegistered" for e in events)
    assert len({(e.tx_hash, e.log_index) for e in events}) == WRITERS
    transactions = {e.tx_hash for e in events}
    assert len(transactions) < WRITERS  # registrations went together
    for tx_hash in transactions:  # each transaction holds exactly the events handed out for it
        receipt = registry.w3.eth.get_transaction_receipt(tx_hash)
        assert sorted(log["logIndex"] for log in receipt["logs"]) == sorted(
            e.log_index for e in events if e.tx_hash == tx_hash
        )
    assert all(registry.exists(r.id) for r in inputs)


def test_a_refused_record_fails_alone_and_its_batch_mates_register(
    medledger: Consortium2,
) -> None:
    registry = medledger.client.records
    taken = record(medledger.doctor)
    registry.register(taken).wait()
    leader = record(medledger.doctor)
    stranger = Account.create().address  # no member of the consortium: may not author
    batch = [
        record(medledger.doctor),
        record(medledger.doctor, record_id=taken.id),  # duplicate id
        record(stranger),
        record(medledger.county_doctor),
    ]
    outcomes: list[object] = [None] * len(batch)

    # The leader waits for its block; the others queue meanwhile and are flushed together.
    first = threading.Thread(target=registry.register_coalesced, args=(leader,))
    first.start()
    time.sleep(0.1)
    outcomes = run_together(len(batch), lambda i: registry.register_coalesced(batch[i]))
    first.join(timeout=60)

    good = [0, 3]
    assert all(isinstance(outcomes[i], Event) for i in good), outcomes
    assert [outcomes[i].args["id"] for i in good] == [batch[i].id for i in good]  # type: ignore[union-attr]
    duplicate, not_author = outcomes[1], outcomes[2]
    assert isinstance(duplicate, TransactionRevertedError)
    assert duplicate.error_name == "RecordRegistryDuplicateId"
    assert isinstance(not_author, TransactionRevertedError)
    assert not_author.error_name == "RecordRegistryNotAuthor"
    assert registry.patient_of(taken.id) == taken.patient  # the first registration stands
    assert not registry.exists(batch[2].id)
    assert registry.exists(leader.id)
