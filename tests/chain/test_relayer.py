"""The relayer against a real anvil: nonces under load and threads, resync, holes, fees."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.connection import connect, rpc
from ledger_api.chain.errors import ReceiptTimeoutError, TransactionRejectedError
from ledger_api.chain.relayer import Fees, Relayer
from tests.chain.conftest import RELAYER_KEY

SINK = "0x000000000000000000000000000000000000dEaD"


def _nonce_of(w3: Web3, tx_hash: str) -> int:
    return int(rpc(w3, "eth_getTransactionByHash", [tx_hash])["nonce"], 16)


def test_zero_base_fee_chain_is_bid_zero_gas_price(relayer: Relayer) -> None:
    # anvil runs with --base-fee 0 yet suggests a 1 gwei tip through eth_gasPrice.
    assert int(rpc(relayer.w3, "eth_gasPrice", []), 16) > 0
    assert relayer.fees() == Fees(gas_price=0)
    balance = relayer.w3.eth.get_balance(relayer.address)
    relayer.send_and_wait(to=SINK, data=b"")
    assert relayer.w3.eth.get_balance(relayer.address) == balance


def test_200_transactions_back_to_back_then_all_receipts(relayer: Relayer) -> None:
    start = relayer.pending_nonce()
    hashes = [relayer.send(to=SINK, data=bytes([i % 256]), gas=30_000) for i in range(200)]
    assert len(set(hashes)) == 200
    receipts = relayer.wait_many(hashes)
    assert [r.status for r in receipts] == [1] * 200
    assert [_nonce_of(relayer.w3, h) for h in hashes] == list(range(start, start + 200))
    assert relayer.pending_nonce() == start + 200


def test_threads_sharing_the_relayer_never_collide(relayer: Relayer) -> None:
    start = relayer.pending_nonce()
    barrier = threading.Barrier(8)

    def worker(n: int) -> list[str]:
        barrier.wait()
        return [relayer.send(to=SINK, data=bytes([n, i]), gas=30_000) for i in range(25)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        hashes = [h for batch in pool.map(worker, range(8)) for h in batch]
    receipts = relayer.wait_many(hashes, timeout=30)
    assert all(r.status == 1 for r in receipts)
    nonces = sorted(_nonce_of(relayer.w3, h) for h in hashes)
    assert nonces == list(range(start, start + 200))


def test_send_many_uses_consecutive_nonces_in_one_request(relayer: Relayer) -> None:
    start = relayer.pending_nonce()
    hashes = relayer.send_many([(SINK, bytes([i])) for i in range(50)], gas=30_000)
    receipts = relayer.wait_many(hashes)
    assert all(r.status == 1 for r in receipts)
    assert [_nonce_of(relayer.w3, h) for h in hashes] == list(range(start, start + 50))


def test_nonce_used_elsewhere_is_resynced(w3: Web3, relayer: Relayer) -> None:
    relayer.send_and_wait(to=SINK, data=b"")  # the relayer now caches its next nonce
    other = Relayer(w3, RELAYER_KEY)  # a second process with the same key takes that nonce
    taken = other.send_and_wait(to=SINK, data=b"\x01")
    receipt = relayer.send_and_wait(to=SINK, data=b"\x02")
    assert receipt.status == 1
    assert _nonce_of(w3, receipt.tx_hash) == _nonce_of(w3, taken.tx_hash) + 1


def test_rejected_transaction_leaves_no_nonce_hole(relayer: Relayer) -> None:
    with pytest.raises(TransactionRejectedError, match="intrinsic gas"):
        relayer.send(to=SINK, data=b"", gas=1_000)  # below 21,000: the node refuses it
    after = relayer.send(to=SINK, data=b"")
    assert relayer.wait(after, timeout=10).status == 1


def test_unfunded_account_is_rejected_with_the_nodes_reason(w3: Web3) -> None:
    poor = Relayer(w3, Account.create().key)
    with pytest.raises(TransactionRejectedError, match=r"(?i)insufficient funds"):
        poor.send(to=SINK, data=b"", gas=21_000, value=10**18)


def test_a_ready_but_unmined_transaction_is_nudged(tmp_path: Path) -> None:
    # --no-mining stands in for anvil's automine glitch (foundry#10122): the transaction is
    # pending at the next nonce and nothing mines it until something else happens.
    node = AnvilProcess(port=free_port(), log_file=tmp_path / "a.log", extra_args=["--no-mining"])
    node.start()
    try:
        w3 = connect(node.url)
        relayer = Relayer(w3, RELAYER_KEY, nudge_after=0.3)
        stuck = relayer.send(to=SINK, data=b"", gas=21_000)
        with pytest.raises(ReceiptTimeoutError, match="pending at nonce 0"):
            relayer.wait(stuck, timeout=1.0)
        assert relayer.pending_nonce() >= 2  # the nudge (a self-transfer) went out after it
        rpc(w3, "evm_mine", [])  # test-only: mine what is pending
        assert relayer.wait(stuck, timeout=5).status == 1
        block = rpc(w3, "eth_getBlockByNumber", ["latest", True])
        senders = {(t["from"].lower(), t["to"].lower()) for t in block["transactions"]}
        me = relayer.address.lower()
        assert (me, me) in senders
    finally:
        node.stop()


def test_a_rollback_is_noticed_and_the_lost_transaction_sent_again(tmp_path: Path) -> None:
    # evm_revert stands in for a node restarted from an older state: the relayer's own count
    # of nonces is then ahead of the chain's and its next transaction would wait behind a gap
    node = AnvilProcess(port=free_port(), log_file=tmp_path / "a.log")
    node.start()
    try:
        w3 = connect(node.url)
        relayer = Relayer(w3, RELAYER_KEY, nudge_after=0.3)
        relayer.wait(relayer.send(to=SINK, data=b"", gas=21_000))
        snapshot = rpc(w3, "evm_snapshot", [])
        lost = relayer.send(to=SINK, data=b"\x01", gas=30_000)  # mined, receipt not yet read
        deadline = time.monotonic() + 10  # automine answers first; a loaded node mines a bit later
        while rpc(w3, "eth_getTransactionReceipt", [lost]) is None:
            assert time.monotonic() < deadline, "anvil did not mine the transaction"
            time.sleep(0.05)
        assert rpc(w3, "evm_revert", [snapshot]) is True
        assert rpc(w3, "eth_getTransactionReceipt", [lost]) is None
        # the next send goes out with the stale nonce; the wait notices, resyncs, re-sends
        after = relayer.send(to=SINK, data=b"\x02", gas=30_000)
        receipt = relayer.wait(after, timeout=20)
        assert receipt.status == 1
        assert relayer.check_nonce() is False  # in step with the chain again
        # the lost one, still awaited, is re-sent (same call, new nonce) by the wait on it
        again = relayer.wait(lost, timeout=20)
        tx = rpc(w3, "eth_getTransactionByHash", [again.tx_hash])
        assert tx["input"] == "0x01"
    finally:
        node.stop()
