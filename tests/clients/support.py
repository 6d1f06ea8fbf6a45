"""Helpers of the CLI and SDK tests: ``medledger`` in-process as each person, output checks,
waiting for the indexer. Not fixtures (those are in ``conftest.py``)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from clients.cli import app
from clients.sdk.wallet import WalletStore
from ledger_api.indexer import Indexer
from tests.api.conftest import Stack
from tests.clients.conftest import LiveStack

PASSWORD = "wallet-pw"
RECORD_ID = re.compile(r"record (0x[0-9a-f]{64})")
PEOPLE = ("patient", "cardiologist", "gp", "auditor", "admin")

runner = CliRunner()


class Cli:
    """``medledger …`` as each person of the stack, with their wallet in one data dir."""

    def __init__(self, live: LiveStack, data_dir: Path, people: Sequence[str] = PEOPLE) -> None:
        self.live = live
        self.data_dir = data_dir
        store = WalletStore(data_dir, scrypt_log2_n=10)
        for name in people:
            account = getattr(live.stack, name)
            store.import_key(name, account.key.hex(), PASSWORD)

    def __call__(
        self,
        *args: str,
        wallet: str,
        password: str = PASSWORD,
        columns: int = 200,
        input: str | None = None,  # what the command reads on standard input
    ) -> Any:
        return runner.invoke(
            app,
            [*args, "--api", self.live.url, "--data-dir", str(self.data_dir), "--wallet", wallet],
            env={"MEDLEDGER_WALLET_PASSWORD": password, "COLUMNS": str(columns)},
            input=input,
        )


def ok(result: Any) -> str:
    """The output of a command that must succeed (the failure message shows both streams)."""
    assert result.exit_code == 0, f"{result.stdout}\n{result.stderr}"
    return str(result.stdout)


def found(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    assert match, text
    return match.group(1)


def one_error_line(result: Any, exit_code: int) -> str:
    """Exactly one ``error: …`` line on stderr, the given exit code, no traceback."""
    assert result.exit_code == exit_code, f"{result.exit_code}: {result.stdout}{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return str(lines[0])


def wait_indexed(stack: Stack, timeout: float = 20.0) -> None:
    """Until the stack's indexer has reached the chain head (its cursor is in the database)."""
    engine = sa.create_engine(stack.settings.database_url)
    try:
        indexer = Indexer(stack.w3, stack.deployment, sessionmaker(engine))
        head = stack.w3.eth.block_number
        deadline = time.monotonic() + timeout
        while indexer.cursor() < head:
            assert time.monotonic() < deadline, "the indexer did not catch up"
            time.sleep(0.05)
    finally:
        engine.dispose()
