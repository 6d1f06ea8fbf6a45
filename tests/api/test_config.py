"""Settings: every path defaults under one data directory, the one `medledger node up` uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger_api.config import Settings


@pytest.fixture(autouse=True)
def _no_medledger_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read MEDLEDGER_* variables; these tests state every value themselves."""
    for name in ("DATA_DIR", "DEPLOYMENT_FILE", "DATABASE_URL", "BLOCK_STORE_PATH"):
        monkeypatch.delenv(f"MEDLEDGER_{name}", raising=False)


def test_paths_default_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, relayer_key="0x" + "11" * 32)
    assert settings.deployment_file == tmp_path / "deployment.json"
    assert settings.database_url == f"sqlite:///{tmp_path / 'index.db'}"
    assert settings.blocks_path == tmp_path / "blocks"


def test_data_dir_defaults_to_the_dev_chain_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings(relayer_key="0x" + "11" * 32)
    assert settings.data_dir == tmp_path / ".medledger"


def test_explicit_values_win(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        deployment_file=tmp_path / "elsewhere.json",
        database_url="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        relayer_key="0x" + "11" * 32,
    )
    assert settings.deployment_file == tmp_path / "elsewhere.json"
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_each_worker_takes_its_own_relayer_key(tmp_path: Path) -> None:
    keys = tmp_path / "relayers.keys"
    keys.write_text(
        "# one enrolled relayer per worker\n0x" + "11" * 32 + "\n\n0x" + "22" * 32 + "\n"
    )
    first = Settings(data_dir=tmp_path, relayer_keys_file=keys, worker_index=0)
    second = Settings(data_dir=tmp_path, relayer_keys_file=keys, worker_index=1)
    assert first.relayer_secret() == "0x" + "11" * 32
    assert second.relayer_secret() == "0x" + "22" * 32
    with pytest.raises(ValueError, match="worker 2 has none"):
        Settings(data_dir=tmp_path, relayer_keys_file=keys, worker_index=2).relayer_secret()
    with pytest.raises(ValueError, match="cannot read"):
        Settings(data_dir=tmp_path, relayer_keys_file=tmp_path / "nope").relayer_secret()


def test_a_relayer_key_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="relayer_key or relayer_keys_file"):
        Settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="worker_index"):
        Settings(data_dir=tmp_path, relayer_key="0x" + "11" * 32, worker_index=-1)
