"""``medledger`` as a real process: what a user sees when the API is not there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from eth_account import Account

from clients.cli.common import EXIT_UNAVAILABLE
from clients.sdk.wallet import WalletStore
from tests.clients.conftest import free_port

MEDLEDGER = Path(sys.executable).with_name("medledger")


def test_api_down_is_one_line_on_stderr_and_exit_3(tmp_path: Path) -> None:
    WalletStore(tmp_path, scrypt_log2_n=10).import_key("me", Account.create().key.hex(), "pw")
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [str(MEDLEDGER), "patient", "records", "--api", url, "--data-dir", str(tmp_path)],
        env={**os.environ, "MEDLEDGER_WALLET_PASSWORD": "pw"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == EXIT_UNAVAILABLE
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: cannot reach the MedLedger API at {url}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
