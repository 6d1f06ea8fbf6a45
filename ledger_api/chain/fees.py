"""What the relayer bids for gas, read from the node so one code path fits every chain.

Our anvil runs with a zero base fee (gas is free on a permissioned chain); Besu and geth may
charge a base fee (EIP-1559) or only a legacy gas price. Reading ``eth_gasPrice`` and the latest
block's ``baseFeePerGas`` tells which case applies without any client-specific method.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from ledger_api.chain.connection import rpc
from ledger_api.chain.errors import RpcError


@dataclass(frozen=True)
class Fees:
    """What the relayer bids: legacy ``gas_price``, or the two EIP-1559 caps."""

    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None

    def tx_fields(self) -> dict[str, int]:
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        assert self.max_fee_per_gas is not None
        assert self.max_priority_fee_per_gas is not None
        return {
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
            "type": 2,
        }


def read_fees(w3: Web3) -> Fees:
    """The bid for the next transactions, from standard JSON-RPC methods only."""
    gas_price = int(rpc(w3, "eth_gasPrice", []), 16)
    block = rpc(w3, "eth_getBlockByNumber", ["latest", False]) or {}
    base_fee = block.get("baseFeePerGas")
    if base_fee is None:
        return Fees(gas_price=gas_price)  # pre-London chain: legacy pricing only
    base = int(base_fee, 16)
    if base == 0:
        # A zero base fee is how a permissioned chain says gas is free (our dev chain; Besu
        # with zeroBaseFee): bid nothing. The node may still *suggest* a tip in
        # eth_gasPrice, which would only burn the relayer's balance.
        return Fees(gas_price=0)
    try:
        tip = int(rpc(w3, "eth_maxPriorityFeePerGas", []), 16)
    except RpcError:
        tip = max(gas_price - base, 0)
    return Fees(max_fee_per_gas=2 * base + tip, max_priority_fee_per_gas=tip)
