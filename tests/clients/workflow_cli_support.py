"""Shared by the referral and consultation CLI tests: wallets, invocation, output checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from clients.cli import app
from clients.sdk import MedLedgerClient
from clients.wallet import WalletStore
from tests.clients.conftest import LiveStack

PASSWORD = "wallet-pw"
RECORD_ID = re.compile(r"record (0x[0-9a-f]{64})")

runner = CliRunner()


class Cli:
    """``medledger …`` as each person of the stack, with their wallet in one data dir."""

    def __init__(self, live: LiveStack, data_dir: Path) -> None:
        self.live = live
        self.data_dir = data_dir
        store = WalletStore(data_dir, scrypt_log2_n=10)
        for name in ("patient", "cardiologist", "gp"):
            account = getattr(live.stack, name)
            store.import_key(name, account.key.hex(), PASSWORD)

    def __call__(self, *args: str, wallet: str) -> Any:
        return runner.invoke(
            app,
            [*args, "--api", self.live.url, "--data-dir", str(self.data_dir), "--wallet", wallet],
            env={"MEDLEDGER_WALLET_PASSWORD": PASSWORD, "COLUMNS": "200"},
        )

    def share(self, path: Path, policy: str, *, wallet: str = "gp") -> str:
        """A record of the stack's patient shared by ``wallet``; its id."""
        patient = self.live.stack.patient.address
        out = ok(self("patient", "share", str(path), "--patient", patient, "--policy", policy,
                      wallet=wallet))  # fmt: skip
        return found(RECORD_ID, out)

    def patient_records(self) -> int:
        stack = self.live.stack
        with MedLedgerClient(self.live.url, account=stack.patient) as client:
            return len(list(client.iter_records(stack.patient.address)))


def ok(result: Any) -> str:
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
