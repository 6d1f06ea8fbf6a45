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
from eth_account.signers.local import LocalAccount

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.contract import Event
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.records import RecordRegistry, SignedRegistration
from tests.chain.conftest import Consortium2
from tests.chain.signed import signed_registration
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


def record(
    registry: RecordRegistry, author: LocalAccount, record_id: bytes | None = None
) -> SignedRegistration:
    return signed_registration(
        registry, author, Account.create().address, id=record_id or os.urandom(32)
    )


def test_concurrent_registrations_share_transactions_each_gets_its_event(
    medledger: Consortium2,
) -> None:
    registry = medledger.client.records
    inputs = [record(registry, medledger.doctor_account) for _ in range(WRITERS)]

    outcomes = run_together(WRITERS, lambda i: registry.register_coalesced(*inputs[i]))

    assert all(isinstance(o, Event) for o in outcomes), outcomes
    events = [o for o in outcomes if isinstance(o, Event)]
    assert [e.args["id"] for e in events] == [r.id for r, _ in inputs]
    assert all(e.name == "RecordRegistered" for e in events)
    assert len({(e.tx_hash, e.log_index) for e in events}) == WRITERS
    transactions = {e.tx_hash for e in events}
    assert len(transactions) < WRITERS  # registrations went together
    for tx_hash in transactions:  # each transaction holds exactly the events handed out for it
        receipt = registry.w3.eth.get_transaction_receipt(tx_hash)
        assert sorted(log["logIndex"] for log in receipt["logs"]) == sorted(
            e.log_index for e in events if e.tx_hash == tx_hash
        )
    assert all(registry.exists(r.id) for r, _ in inputs)


def test_a_refused_record_fails_alone_and_its_batch_mates_register(
    medledger: Consortium2,
) -> None:
    registry = medledger.client.records
    doctor = medledger.doctor_account
    taken = record(registry, doctor)
    registry.register(*taken).wait()
    leader = record(registry, doctor)
    stranger = Account.create()  # no member of the consortium, nor the patient: may not author
    batch = [
        record(registry, doctor),
        record(registry, doctor, record_id=taken[0].id),  # duplicate id
        record(registry, stranger),
        record(registry, medledger.county_doctor_account),
    ]
    outcomes: list[object] = [None] * len(batch)

    # The leader waits for its block; the others queue meanwhile and are flushed together.
    first = threading.Thread(target=registry.register_coalesced, args=leader)
    first.start()
    time.sleep(0.1)
    outcomes = run_together(len(batch), lambda i: registry.register_coalesced(*batch[i]))
    first.join(timeout=60)

    good = [0, 3]
    assert all(isinstance(outcomes[i], Event) for i in good), outcomes
    assert [outcomes[i].args["id"] for i in good] == [batch[i][0].id for i in good]  # type: ignore[union-attr]
    duplicate, not_author = outcomes[1], outcomes[2]
    assert isinstance(duplicate, TransactionRevertedError)
    assert duplicate.error_name == "RecordRegistryDuplicateId"
    assert isinstance(not_author, TransactionRevertedError)
    assert not_author.error_name == "RecordRegistryNotAuthor"
    assert registry.patient_of(taken[0].id) == taken[0].patient  # the first one stands
    assert not registry.exists(batch[2][0].id)
    assert registry.exists(leader[0].id)
