"""``medledger wallet new|import|list|export`` on real keystore files in a temp data dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_account import Account
from typer.testing import CliRunner

from clients.cli import app
from clients.cli.common import EXIT_NOT_FOUND, EXIT_WRONG_PASSWORD
from clients.sdk.wallet import WalletStore

runner = CliRunner()
FAST = ["--scrypt-log2-n", "10"]  # keystore cost for tests only


def invoke(data_dir: Path, *args: str, password: str = "pw-1", **env: str) -> Any:
    return runner.invoke(
        app,
        [*args, "--data-dir", str(data_dir)],
        env={"MEDLEDGER_WALLET_PASSWORD": password, "COLUMNS": "200", **env},
    )


def one_error_line(result: Any) -> str:
    """The failure is exactly one `error: …` line on stderr, and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_new_list_export_and_reopen(tmp_path: Path) -> None:
    result = invoke(tmp_path, "wallet", "new", "alice", *FAST)
    assert result.exit_code == 0, result.output
    wallet = WalletStore(tmp_path).get("alice")
    assert f"created wallet alice {wallet.address}" in result.stdout
    # the keystore on disk opens with the password from the environment, and no other
    assert wallet.unlock("pw-1").address == wallet.address
    assert (wallet.path.stat().st_mode & 0o777) == 0o600

    listed = invoke(tmp_path, "wallet", "list")
    assert listed.exit_code == 0, listed.output
    assert "alice" in listed.stdout
    assert wallet.address in listed.stdout

    exported = invoke(tmp_path, "wallet", "export", "alice")
    assert exported.exit_code == 0, exported.output
    keystore = json.loads(exported.stdout)
    assert "crypto" in keystore
    assert "pw-1" not in exported.stdout
    assert Account.from_key(Account.decrypt(keystore, "pw-1")).address == wallet.address

    address_only = invoke(tmp_path, "wallet", "export", wallet.address, "--address")
    assert address_only.stdout.strip() == wallet.address

    target = tmp_path / "alice.keystore.json"
    written = invoke(tmp_path, "wallet", "export", "alice", "-o", str(target))
    assert written.exit_code == 0, written.output
    assert json.loads(target.read_text())["crypto"] == keystore["crypto"]
    again = invoke(tmp_path, "wallet", "export", "alice", "-o", str(target))
    assert again.exit_code == 1
    assert "refusing to overwrite" in one_error_line(again)


def test_import_key_and_keystore(tmp_path: Path) -> None:
    account = Account.create()
    by_key = invoke(
        tmp_path, "wallet", "import", "clinic", "--key-env", "DEV_KEY", *FAST,
        DEV_KEY=account.key.hex(),
    )  # fmt: skip
    assert by_key.exit_code == 0, by_key.output
    assert WalletStore(tmp_path).get("clinic").address == account.address
    assert account.key.hex() not in by_key.output

    other = Account.create()
    keystore_file = tmp_path / "other.json"
    keystore_file.write_text(json.dumps(Account.encrypt(other.key, "their-pw", iterations=1024)))
    wrong = invoke(tmp_path / "b", "wallet", "import", "other", "--keystore", str(keystore_file))
    assert wrong.exit_code == EXIT_WRONG_PASSWORD
    assert "wrong password" in one_error_line(wrong)
    assert not (tmp_path / "b" / "wallets" / "other.json").exists()  # nothing written

    right = invoke(
        tmp_path / "b", "wallet", "import", "other", "--keystore", str(keystore_file),
        password="their-pw",
    )  # fmt: skip
    assert right.exit_code == 0, right.output
    assert WalletStore(tmp_path / "b").get("other").unlock("their-pw").address == other.address


def test_clear_failures(tmp_path: Path) -> None:
    assert invoke(tmp_path, "wallet", "new", "bob", *FAST).exit_code == 0
    taken = invoke(tmp_path, "wallet", "new", "bob", *FAST)
    assert taken.exit_code == 1
    assert "already exists" in one_error_line(taken)

    missing = invoke(tmp_path, "wallet", "export", "nobody")
    assert missing.exit_code == 4  # not found, as docs/cli.md documents (issue 13)
    assert "no wallet 'nobody'" in one_error_line(missing)

    brackets = invoke(tmp_path, "wallet", "export", "[bold]x")
    assert "no wallet '[bold]x'" in one_error_line(brackets)  # not eaten as markup

    bad_name = invoke(tmp_path, "wallet", "new", "../evil", *FAST)
    assert bad_name.exit_code == 1
    assert "invalid wallet name" in one_error_line(bad_name)

    no_env = invoke(tmp_path, "wallet", "import", "x", "--key-env", "UNSET_VAR_42", *FAST)
    assert "UNSET_VAR_42 is unset" in one_error_line(no_env)

    bad_key = invoke(tmp_path, "wallet", "import", "y", "--key-env", "K", *FAST, K="0x1234")
    assert "not a valid private key" in one_error_line(bad_key)

    no_file = invoke(tmp_path, "wallet", "import", "z", "--keystore", str(tmp_path / "nope"))
    assert no_file.exit_code == EXIT_NOT_FOUND
    assert "no keystore file" in one_error_line(no_file)

    empty = invoke(tmp_path / "empty", "wallet", "list")
    assert empty.exit_code == 0
    assert "no wallets" in empty.stdout


def test_password_typed_at_the_prompt(tmp_path: Path) -> None:
    """Without MEDLEDGER_WALLET_PASSWORD the password is asked twice (hidden) for a new wallet."""
    result = runner.invoke(
        app,
        ["wallet", "new", "carol", "--data-dir", str(tmp_path), *FAST],
        input="s3cret\ns3cret\n",
        env={"MEDLEDGER_WALLET_PASSWORD": ""},
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert WalletStore(tmp_path).get("carol").unlock("s3cret")

    no_input = runner.invoke(
        app,
        ["wallet", "new", "dave", "--data-dir", str(tmp_path), *FAST],
        input="",
        env={"MEDLEDGER_WALLET_PASSWORD": ""},
    )
    assert no_input.exit_code == 1
    assert "MEDLEDGER_WALLET_PASSWORD" in one_error_line(no_input)
