"""Fixtures of the chain-layer tests: a module-wide anvil of our own and a relayer on it.

The chain tests get their own node rather than the session one, so that their hundreds of
transactions from the relayer key never race another package's tests for a nonce.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.connection import connect
from ledger_api.chain.relayer import Relayer
from tests.conftest import ANVIL_KEYS

RELAYER_KEY = ANVIL_KEYS[2]


@pytest.fixture(scope="module")
def chain_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    log_dir: Path = tmp_path_factory.mktemp("chain-node")
    node = AnvilProcess(port=free_port(), log_file=log_dir / "anvil.log")
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def w3(chain_node: AnvilProcess) -> Web3:
    return connect(chain_node.url, expected_chain_id=chain_node.chain_id)


@pytest.fixture
def relayer(w3: Web3) -> Relayer:
    return Relayer(w3, RELAYER_KEY)
