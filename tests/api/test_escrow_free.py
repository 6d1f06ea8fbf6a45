"""An escrow-free API (``MEDLEDGER_ESCROW_FREE``) holds no key and refuses a data folder made
before institutions ran their own key authorities, naming how to re-initialise it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger_api.authority.keystore import init_authority
from ledger_api.chain.anvil import free_port
from ledger_api.config import Settings
from ledger_api.context import LegacyDataFolderError, build_context, load_authority

RELAYER = "0x" + "11" * 32


def _settings(data_dir: Path, **extra: object) -> Settings:
    return Settings(data_dir=data_dir, relayer_key=RELAYER, escrow_free=True, **extra)


def test_legacy_data_folder_is_refused_with_the_reinit_command(tmp_path: Path) -> None:
    init_authority(tmp_path / "authority", "old passphrase", log2_n=10)
    settings = _settings(tmp_path, authority_passphrase="old passphrase")
    with pytest.raises(LegacyDataFolderError) as refused:
        build_context(settings)  # refused before any connection is attempted
    message = str(refused.value)
    assert "msk.enc" in message
    assert "medledger node up" in message
    assert "medledger authority init --institution" in message


def test_escrow_free_api_loads_no_key_even_with_a_passphrase(tmp_path: Path) -> None:
    settings = _settings(tmp_path, authority_passphrase="anything")
    assert load_authority(settings) is None


def test_serve_refuses_a_legacy_folder_before_listening(tmp_path: Path) -> None:
    init_authority(tmp_path / "authority", "old passphrase", log2_n=10)
    env = {
        **os.environ,
        "MEDLEDGER_DATA_DIR": str(tmp_path),
        "MEDLEDGER_RELAYER_KEY": RELAYER,
        "MEDLEDGER_ESCROW_FREE": "1",
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-m", "clients.cli", "serve", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "medledger node up" in done.stderr + done.stdout
