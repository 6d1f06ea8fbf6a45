"""Permissions at rest: the data folder 0700, the index and logs 0600, checked at every start
(a looser one is fixed, with a warning naming it). The folder holds no key file."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from ledger_api.at_rest import secure_at_rest
from ledger_api.config import Settings
from tests.api.conftest import Stack


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _private(stack: Stack) -> dict[Path, int]:
    data = stack.settings.data_dir
    expected = {
        data: 0o700,
    }
    if (data / "index.db").exists():  # the SQLite run; PostgreSQL keeps its own files
        expected[data / "index.db"] = 0o600
    return expected


def test_a_started_api_keeps_its_data_private(api_stack: Stack) -> None:
    for path, mode in _private(api_stack).items():
        assert _mode(path) == mode, f"{path}: {oct(_mode(path))}"


def test_looser_modes_are_fixed_at_the_next_start(
    api_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    data = api_stack.settings.data_dir
    log_file = data / "api.log"
    log_file.write_text("GET /records/0x… 200\n")
    loosened = {**_private(api_stack), log_file: 0o600}
    for path, mode in loosened.items():
        path.chmod(0o755 if mode == 0o700 else 0o644)
    with caplog.at_level(logging.WARNING, logger="ledger_api.at_rest"):
        api_stack.restart()
    for path, mode in loosened.items():
        assert _mode(path) == mode, f"{path}: {oct(_mode(path))}"
    warned = {r.path for r in caplog.records if hasattr(r, "path")}  # type: ignore[attr-defined]
    assert {str(p) for p in loosened} <= warned


def test_already_private_paths_are_left_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", relayer_key="0x" + "11" * 32)
    settings.data_dir.mkdir(mode=0o700)
    (settings.data_dir / "index.db").write_bytes(b"")
    (settings.data_dir / "index.db").chmod(0o400)  # stricter than needed: kept
    (settings.data_dir / "deployment.json").write_text("{}")  # public: not touched
    (settings.data_dir / "deployment.json").chmod(0o644)
    assert secure_at_rest(settings) == []
    assert _mode(settings.data_dir / "index.db") == 0o400
    assert _mode(settings.data_dir / "deployment.json") == 0o644


def test_a_database_outside_the_data_dir_is_checked_too(tmp_path: Path) -> None:
    elsewhere = tmp_path / "db" / "index.db"
    elsewhere.parent.mkdir()
    for path in (elsewhere, Path(f"{elsewhere}-wal")):
        path.write_bytes(b"")
        path.chmod(0o666)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{elsewhere}",
        relayer_key="0x" + "11" * 32,
    )
    fixed = secure_at_rest(settings)
    assert {f.path for f in fixed} == {elsewhere, Path(f"{elsewhere}-wal")}
    assert _mode(elsewhere) == 0o600
