"""``medledger authority init|show``: create and check the key authority's master keys.

Thin on purpose: the work is in :mod:`ledger_api.services.authority`. The passphrase comes
from an environment variable named with ``--passphrase-env`` (for scripts and containers,
where a prompt would hang) or from a hidden prompt; never from a command-line argument,
which would land in shell history and ``ps`` output.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from clients.cli.common import CliError, cli_errors, plain
from crypto.keys import SCRYPT_DEFAULT_LOG2_N, SCRYPT_MAX_LOG2_N, SCRYPT_MIN_LOG2_N
from ledger_api.authority.keystore import (
    MPK_FILE,
    MSK_FILE,
    KeyAuthority,
    init_authority,
)
from ledger_api.chain.devnode import default_data_dir

authority_app = typer.Typer(help="Manage the key authority's master keys.", no_args_is_help=True)

DataDirOption = typer.Option(
    None,
    "--data-dir",
    envvar="MEDLEDGER_DATA_DIR",
    help="The API's data directory; the keys go to <data-dir>/authority [~/.medledger].",
)
AuthorityDirOption = typer.Option(
    None,
    "--authority-dir",
    envvar="MEDLEDGER_AUTHORITY_DIR",
    help="Where mpk.cbor and msk.enc live (overrides <data-dir>/authority).",
)
PassphraseEnvOption = typer.Option(
    None,
    "--passphrase-env",
    help="Read the passphrase from this environment variable instead of prompting.",
)


def _directory(data_dir: str | None, authority_dir: str | None) -> Path:
    if authority_dir:
        return Path(authority_dir).expanduser()
    base = Path(data_dir).expanduser() if data_dir else default_data_dir()
    return base / "authority"


def _passphrase(variable: str | None, *, confirm: bool) -> str:
    if variable is not None:
        value = os.environ.get(variable)
        if not value:
            raise CliError(f"environment variable {variable} is unset or empty")
        return value
    try:
        value = typer.prompt(
            "Key authority passphrase", hide_input=True, confirmation_prompt=confirm
        )
    except typer.Abort:
        raise CliError("no passphrase given (type it, or use --passphrase-env VAR)") from None
    if not value:
        raise CliError("the passphrase must not be empty")
    return str(value)


@authority_app.command()
@cli_errors
def init(
    data_dir: str | None = DataDirOption,
    authority_dir: str | None = AuthorityDirOption,
    passphrase_env: str | None = PassphraseEnvOption,
    scrypt_log2_n: int = typer.Option(
        SCRYPT_DEFAULT_LOG2_N,
        "--scrypt-log2-n",
        min=SCRYPT_MIN_LOG2_N,
        max=SCRYPT_MAX_LOG2_N,
        help="scrypt cost of the passphrase box (log2 N); lower only for tests.",
    ),
) -> None:
    """Generate the FAME master keys: mpk.cbor (public) and msk.enc (passphrase-encrypted).

    Refuses to overwrite existing keys: every record is encrypted under the public key.

    Example: medledger authority init --data-dir ~/.medledger
    """
    directory = _directory(data_dir, authority_dir)
    if (directory / MPK_FILE).exists() or (directory / MSK_FILE).exists():
        raise CliError(f"{directory} already holds authority keys; refusing to overwrite them")
    passphrase = _passphrase(passphrase_env, confirm=True)
    files = init_authority(directory, passphrase, log2_n=scrypt_log2_n)
    console = plain()
    console.print(f"wrote {files.mpk_path} (public) and {files.msk_path} (encrypted)")
    console.print(f"mpk sha256 {files.mpk_sha256}")


@authority_app.command()
@cli_errors
def show(
    data_dir: str | None = DataDirOption,
    authority_dir: str | None = AuthorityDirOption,
    passphrase_env: str | None = PassphraseEnvOption,
) -> None:
    """Open the keys with the passphrase (checking they are one pair); print the fingerprint.

    Example: medledger authority show --data-dir ~/.medledger
    """
    directory = _directory(data_dir, authority_dir)
    passphrase = _passphrase(passphrase_env, confirm=False)
    authority = KeyAuthority.load(directory, passphrase)
    console = plain()
    console.print(f"key authority at {directory}: keys open and match")
    console.print(f"mpk sha256 {authority.mpk_sha256}")
