"""Fixtures for the contract tests.

The contract tests move the chain's clock (``evm_setNextBlockTimestamp``) and roll state back
(``evm_snapshot`` / ``evm_revert``), so they get an anvil of their own rather than the shared
session node, where a clock moved by a day would break other packages' tests. It is the same
binary and the same command line as ``tests.conftest.anvil``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from ledger_api.chain.anvil import AnvilProcess, free_port
from tests.conftest import ANVIL_KEYS
from tests.contracts.emergency_keys_support import with_authorities
from tests.contracts.helpers import Chain, build_world


@pytest.fixture(scope="package")
def contracts_anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    log = tmp_path_factory.mktemp("contracts-anvil") / "anvil.log"
    node = AnvilProcess(port=free_port(), log_file=log)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="package")
def w3(contracts_anvil: AnvilProcess) -> Web3:
    return Web3(Web3.HTTPProvider(contracts_anvil.url))


@pytest.fixture(scope="module")
def world(w3: Web3) -> Chain:
    """Fresh contracts per test module, with two institutions and their staff enrolled."""
    return build_world(w3, ANVIL_KEYS)


@pytest.fixture
def chain(world: Chain) -> Iterator[Chain]:
    """The module's world, rolled back after each test so tests do not see each other."""
    snap = world.snapshot()
    yield world
    world.revert_to(snap)


@pytest.fixture
def board(chain: Chain) -> Chain:
    """``chain`` plus a third institution and a registered key authority at each of the
    three (signers ``emergency_keys_support.signer("a1" … "a3")``)."""
    return with_authorities(chain)
