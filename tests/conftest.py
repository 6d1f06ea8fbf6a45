"""Shared fixtures: a real anvil node per test session, and the databases under test.

Nothing here is mocked: ``anvil`` is the binary from ``node_modules``; PostgreSQL is the
server named by ``MEDLEDGER_TEST_POSTGRES_URL`` (CI sets it), SQLite a file in a temp dir.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_api.chain.anvil import AnvilProcess, free_port

# anvil's well-known development accounts (mnemonic "test test ... junk"); test-only keys.
ANVIL_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
]


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    """One anvil for the whole session; tests that need a pristine chain use ``fresh_anvil``."""
    node = AnvilProcess(port=free_port(), log_file=tmp_path_factory.mktemp("anvil") / "anvil.log")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def fresh_anvil(tmp_path: Path) -> Iterator[AnvilProcess]:
    """A new anvil with an on-disk state file, for tests that restart or kill the node."""
    node = AnvilProcess(
        port=free_port(), state_file=tmp_path / "chain.json", log_file=tmp_path / "anvil.log"
    )
    node.start()
    yield node
    node.stop(kill=True)


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or None when the run was not asked to use PostgreSQL."""
    return os.environ.get("MEDLEDGER_TEST_POSTGRES_URL") or None
