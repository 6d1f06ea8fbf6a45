"""Connecting to a node: chain id checks, unreachable nodes, deployments without code."""

from __future__ import annotations

import dataclasses

import pytest
from web3 import Web3

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.client import ChainClient
from ledger_api.chain.connection import block_number, chain_id, connect, require_code, rpc_batch
from ledger_api.chain.errors import (
    ChainConnectionError,
    ChainIdMismatchError,
    ContractNotDeployedError,
    RpcError,
)
from tests.chain.conftest import RELAYER_KEY, Consortium2


def test_connect_checks_the_chain_id(chain_node: AnvilProcess) -> None:
    w3 = connect(chain_node.url, expected_chain_id=31337)
    assert chain_id(w3) == 31337
    with pytest.raises(ChainIdMismatchError, match="deployment is for 1, node has 31337") as info:
        connect(chain_node.url, expected_chain_id=1)
    assert (info.value.expected, info.value.actual) == (1, 31337)


def test_unreachable_node_and_bad_url_are_named() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(ChainConnectionError, match=f"127.0.0.1:{port}"):
        connect(f"http://127.0.0.1:{port}")
    with pytest.raises(ChainConnectionError, match="only HTTP"):
        connect("ws://127.0.0.1:8545")


def test_batch_returns_errors_in_their_slots(w3: Web3) -> None:
    results = rpc_batch(w3, [("eth_blockNumber", []), ("no_such_method", []), ("eth_chainId", [])])
    assert int(results[0], 16) == block_number(w3)
    assert isinstance(results[1], RpcError)
    assert results[1].method == "no_such_method"
    assert int(results[2], 16) == 31337


def test_client_refuses_a_deployment_whose_code_is_missing(
    chain_node: AnvilProcess, medledger: Consortium2
) -> None:
    deployment = medledger.client.deployment
    client = ChainClient.connect(chain_node.url, deployment=deployment, relayer_key=RELAYER_KEY)
    assert client.consortium.is_relayer(client.relayer.address)

    nowhere = "0x" + "ab" * 20
    broken = dataclasses.replace(
        deployment,
        contracts={**deployment.contracts, "AccessLog": Web3.to_checksum_address(nowhere)},
    )
    with pytest.raises(ContractNotDeployedError, match="AccessLog") as info:
        ChainClient.connect(chain_node.url, deployment=broken, relayer_key=RELAYER_KEY)
    assert info.value.address.lower() == nowhere
    with pytest.raises(ChainIdMismatchError):
        ChainClient.connect(
            chain_node.url,
            deployment=dataclasses.replace(deployment, chain_id=5),
            relayer_key=RELAYER_KEY,
        )
    with pytest.raises(ContractNotDeployedError):
        require_code(client.w3, {"Ghost": Web3.to_checksum_address(nowhere)})
