"""The API holds no key (issue 16, property 1), in every configuration: it has no setting that
names a key, loads none whatever the environment says, writes no key file into its data
folder, and refuses a data folder made before institutions ran their own key authorities (the
former central ``authority/msk.enc``), naming how to re-initialise it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger_api.chain.anvil import free_port
from ledger_api.config import Settings
from ledger_api.context import (
    AppContext,
    LegacyDataFolderError,
    build_context,
    refuse_legacy_central_keys,
)
from tests.api.conftest import Stack

RELAYER = "0x" + "11" * 32


def _legacy_folder(data_dir: Path) -> None:
    """What ``medledger authority init`` wrote before issue 16: the passphrase-boxed master
    secret and the master public key, in ``<data dir>/authority``. The refusal goes by the
    files' presence (their contents are never read: the API must not open them)."""
    folder = data_dir / "authority"
    folder.mkdir(parents=True)
    (folder / "msk.enc").write_bytes(b"former central master secret (boxed)")
    (folder / "mpk.cbor").write_bytes(b"former central master public key")


def test_legacy_data_folder_is_refused_with_the_reinit_command(tmp_path: Path) -> None:
    _legacy_folder(tmp_path)
    settings = Settings(data_dir=tmp_path, relayer_key=RELAYER)
    with pytest.raises(LegacyDataFolderError) as refused:
        build_context(settings)  # refused before any connection is attempted
    message = str(refused.value)
    assert "msk.enc" in message
    assert "medledger node up" in message
    assert "medledger authority init --institution" in message
    (tmp_path / "authority" / "msk.enc").unlink()
    with pytest.raises(LegacyDataFolderError, match=r"mpk\.cbor"):  # either file is refused
        refuse_legacy_central_keys(settings)


def test_no_setting_names_a_key_and_the_old_variables_change_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fields = set(Settings.model_fields)
    assert not {f for f in fields if "authority" in f or "passphrase" in f or "escrow" in f}
    assert not {f for f in AppContext.__dataclass_fields__ if "authority" in f}
    for name, value in {
        "MEDLEDGER_DATA_DIR": str(tmp_path),
        "MEDLEDGER_RELAYER_KEY": RELAYER,
        "MEDLEDGER_AUTHORITY_PASSPHRASE": "a passphrase from before",
        "MEDLEDGER_AUTHORITY_DIR": str(tmp_path / "elsewhere"),
        "MEDLEDGER_ESCROW_FREE": "0",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # type: ignore[call-arg]
    assert "a passphrase from before" not in repr(settings.model_dump())
    refuse_legacy_central_keys(settings)  # a clean folder starts


def test_a_running_api_writes_no_key_into_its_data_folder(api_stack: Stack) -> None:
    s = api_stack
    record_id, header, body = s.make_record(s.patient, "dept:cardiology", b"{}")
    assert s.upload(s.patient, record_id=record_id, patient=s.patient, header=header, body=body)
    data = s.settings.data_dir
    assert not (data / "authority").exists()
    names = {p.name for p in data.rglob("*") if p.is_file()}
    assert not {n for n in names if n.endswith((".key", ".enc")) or n == "mpk.cbor"}


def test_serve_refuses_a_legacy_folder_before_listening(tmp_path: Path) -> None:
    _legacy_folder(tmp_path)
    env = {
        **os.environ,
        "MEDLEDGER_DATA_DIR": str(tmp_path),
        "MEDLEDGER_RELAYER_KEY": RELAYER,
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-m", "clients.cli", "serve", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "medledger node up" in done.stderr + done.stdout
