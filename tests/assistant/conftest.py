"""Fixtures of the GP assistant tests.

The assistant's models are built once per process (``default_coder`` and friends are cached),
so these tests share them. The one end-to-end test uses the real stack of the client tests
(``live_stack``: anvil, the API over uvicorn, block store, SQLite index), re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clients.assistant.app import create_app
from clients.assistant.settings import AssistantSettings
from tests.clients.conftest import (  # noqa: F401  (fixtures re-exported for this package)
    api_stack,
    live_stack,
    stack_hooks,
    stack_settings,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the end-to-end test is about the assistant's output, not the index."""
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def assistant_dir(tmp_path: Path) -> Path:
    return tmp_path / "assistant"


@pytest.fixture
def client(assistant_dir: Path) -> Iterator[TestClient]:
    settings = AssistantSettings(
        data_dir=assistant_dir, cors_origins=["https://ledger.example.org"]
    )
    with TestClient(create_app(settings), base_url="http://assistant.test") as test_client:
        yield test_client
