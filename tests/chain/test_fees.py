"""Fees on a chain that charges for gas (as Besu or geth with a base fee would)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.connection import connect, rpc
from ledger_api.chain.relayer import Relayer
from tests.chain.conftest import RELAYER_KEY


class PricedAnvil(AnvilProcess):
    """anvil with its default 1 gwei base fee instead of our dev chain's zero."""

    def command(self) -> list[str]:
        args = super().command()
        for flag in ("--gas-price", "--base-fee"):
            at = args.index(flag)
            del args[at : at + 2]
        return args


@pytest.fixture
def priced_node(tmp_path: Path) -> Iterator[AnvilProcess]:
    node = PricedAnvil(port=free_port(), log_file=tmp_path / "anvil.log")
    node.start()
    yield node
    node.stop()


def test_eip1559_fees_are_read_from_the_node_and_paid(priced_node: AnvilProcess) -> None:
    w3 = connect(priced_node.url)
    relayer = Relayer(w3, RELAYER_KEY)
    fees = relayer.fees()
    base = int(rpc(w3, "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
    assert base > 0
    assert fees.gas_price is None
    assert fees.max_fee_per_gas is not None
    assert fees.max_fee_per_gas >= base
    before = w3.eth.get_balance(relayer.address)
    receipt = relayer.send_and_wait(to="0x000000000000000000000000000000000000dEaD", data=b"")
    tx = rpc(w3, "eth_getTransactionByHash", [receipt.tx_hash])
    assert int(tx["type"], 16) == 2
    raw = rpc(w3, "eth_getTransactionReceipt", [receipt.tx_hash])
    paid = receipt.gas_used * int(raw["effectiveGasPrice"], 16)
    assert paid > 0
    assert w3.eth.get_balance(relayer.address) == before - paid
