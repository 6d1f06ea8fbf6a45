"""``medledger authority init|show`` as an operator runs it, on real files in a temp dir."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from ledger_api.services.authority import attributes_hash
from typer.testing import CliRunner

from clients.cli import app
from crypto import fame
from crypto.keys import decrypt_master_secret_key, load_master_public_key
from ledger_api.authority.keystore import (
    MPK_FILE,
    MSK_FILE,
    AuthorityExistsError,
    AuthorityKeyMismatchError,
    AuthorityNotFoundError,
    AuthorityPassphraseError,
    KeyAuthority,
    init_authority,
)

runner = CliRunner()
FAST = ["--scrypt-log2-n", "10"]


def _init(directory: Path, *extra: str, passphrase: str = "correct horse") -> object:
    return runner.invoke(
        app,
        [
            "authority",
            "init",
            "--authority-dir",
            str(directory),
            "--passphrase-env",
            "KA_PW",
            *extra,
        ],
        env={"KA_PW": passphrase, "COLUMNS": "200"},
    )


def test_init_writes_public_key_and_encrypted_secret(tmp_path: Path) -> None:
    directory = tmp_path / "authority"
    result = _init(directory, *FAST)
    assert result.exit_code == 0, result.output
    mpk = load_master_public_key((directory / MPK_FILE).read_bytes())
    blob = (directory / MSK_FILE).read_bytes()
    assert stat.S_IMODE((directory / MSK_FILE).stat().st_mode) == 0o600
    msk = decrypt_master_secret_key(blob, "correct horse")
    # The secret on disk is encrypted: no serialised scalar of it appears in the file.
    assert msk.a1.serialize() not in blob
    assert msk.b2.serialize() not in blob
    # The two files are one pair: a key from the secret opens what the public key encrypts.
    ciphertext, element = fame.encrypt(mpk, "dept:cardiology and org:cd3h")
    user_key = fame.keygen(msk, ["dept:cardiology", "org:cd3h"])
    assert fame.decrypt(user_key, ciphertext) == element
    assert KeyAuthority.load(directory, "correct horse").mpk_sha256 in result.output


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    directory = tmp_path / "authority"
    assert _init(directory, *FAST).exit_code == 0
    before = {name: (directory / name).read_bytes() for name in (MPK_FILE, MSK_FILE)}
    again = _init(directory, *FAST, passphrase="another")
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output
    assert {name: (directory / name).read_bytes() for name in before} == before
    with pytest.raises(AuthorityExistsError):
        init_authority(directory, "x", log2_n=10)


def test_show_with_wrong_passphrase_is_one_line_and_exit_1(tmp_path: Path) -> None:
    directory = tmp_path / "authority"
    assert _init(directory, *FAST).exit_code == 0
    result = runner.invoke(
        app,
        ["authority", "show", "--authority-dir", str(directory), "--passphrase-env", "KA_PW"],
        env={"KA_PW": "wrong", "COLUMNS": "200"},
    )
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "wrong passphrase" in lines[0]
    assert "Traceback" not in result.output
    ok = runner.invoke(
        app,
        ["authority", "show", "--authority-dir", str(directory), "--passphrase-env", "KA_PW"],
        env={"KA_PW": "correct horse", "COLUMNS": "200"},
    )
    assert ok.exit_code == 0
    assert "keys open and match" in ok.output


def test_init_without_the_passphrase_variable_writes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "authority"
    result = runner.invoke(
        app,
        ["authority", "init", "--authority-dir", str(directory), "--passphrase-env", "NOPE_PW"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 1
    assert "NOPE_PW" in result.output
    assert not directory.exists() or not any(directory.iterdir())


def test_init_with_prompted_passphrase_and_data_dir(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["authority", "init", "--data-dir", str(tmp_path), *FAST],
        input="s3cret\ns3cret\n",
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert (
        KeyAuthority.load(tmp_path / "authority", "s3cret").mpk_bytes
        == (tmp_path / "authority" / MPK_FILE).read_bytes()
    )


def test_load_refuses_missing_wrong_and_mismatched_keys(tmp_path: Path) -> None:
    with pytest.raises(AuthorityNotFoundError, match="authority init"):
        KeyAuthority.load(tmp_path / "none", "pw")
    first, second = tmp_path / "a", tmp_path / "b"
    init_authority(first, "pw", log2_n=10)
    init_authority(second, "pw", log2_n=10)
    with pytest.raises(AuthorityPassphraseError):
        KeyAuthority.load(first, "not it")
    # Another authority's public key beside this secret key: refused before serving a key.
    (first / MPK_FILE).write_bytes((second / MPK_FILE).read_bytes())
    with pytest.raises(AuthorityKeyMismatchError):
        KeyAuthority.load(first, "pw")


def test_attributes_hash_ignores_order_and_case_only() -> None:
    assert attributes_hash(["dept:Cardiology", "uid:0xab"]) == attributes_hash(
        ["uid:0xab", "dept:cardiology"]
    )
    assert attributes_hash(["dept:cardiology"]) != attributes_hash(["dept:cardiology", "x:y"])
