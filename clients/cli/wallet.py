"""``medledger wallet new|import|list|export``: the keystores people sign with.

Thin over :class:`clients.sdk.wallet.WalletStore`. Secrets never come from arguments (shell history,
``ps``): the wallet password from ``MEDLEDGER_WALLET_PASSWORD`` or a hidden prompt, a private key
to import from an environment variable named with ``--key-env`` or a hidden prompt.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from clients.cli.common import (
    EXIT_NOT_FOUND,
    CliError,
    DataDirOption,
    cli_errors,
    password,
    plain,
    wallet_store,
)
from clients.cli.output import JsonLinesOption, is_stdout, json_lines

wallet_app = typer.Typer(
    help="Create, import, list and export wallets (encrypted Ethereum keystores).",
    no_args_is_help=True,
)

ScryptOption = typer.Option(
    None,
    "--scrypt-log2-n",
    min=10,
    max=20,
    help="scrypt cost of the keystore (log2 N) [18]; lower only for tests.",
    hidden=True,
)


@wallet_app.command("new")
@cli_errors
def new(
    name: str = typer.Argument(..., help="A name for the wallet (letters, digits, . _ -)."),
    data_dir: str | None = DataDirOption,
    scrypt_log2_n: int | None = ScryptOption,
) -> None:
    """Create a wallet with a fresh random account, encrypted with a password you choose.

    Example: medledger wallet new alice
    """
    store = wallet_store(data_dir, scrypt_log2_n=scrypt_log2_n)
    if (store.directory / f"{name}.json").exists():
        raise CliError(f"a wallet named {name!r} already exists")
    wallet = store.create(name, password(confirm=True, prompt=f"New password for {name}"))
    plain().print(f"created wallet {wallet.name} {wallet.address}")
    plain().print(f"keystore {wallet.path}")


@wallet_app.command("import")
@cli_errors
def import_(
    name: str = typer.Argument(..., help="A name for the wallet."),
    keystore: Path | None = typer.Option(  # noqa: B008
        None, "--keystore", help="Import this keystore JSON file (its own password opens it)."
    ),
    key_env: str | None = typer.Option(
        None, "--key-env", help="Import the private key held in this environment variable."
    ),
    data_dir: str | None = DataDirOption,
    scrypt_log2_n: int | None = ScryptOption,
) -> None:
    """Import an existing account: a keystore file, or a private key (then encrypted).

    Without --keystore or --key-env the private key is asked for (hidden).

    Example: medledger wallet import clinic --keystore ~/Downloads/UTC--2026-…json
    """
    store = wallet_store(data_dir, scrypt_log2_n=scrypt_log2_n)
    if keystore is not None and key_env is not None:
        raise CliError("give --keystore or --key-env, not both")
    if keystore is not None:
        if not keystore.is_file():
            raise CliError(f"no keystore file {keystore}", exit_code=EXIT_NOT_FOUND)
        secret = password(prompt=f"Password of {keystore.name}")
        wallet = store.import_keystore(name, keystore, secret)
    else:
        private_key = _private_key(key_env)
        wallet = store.import_key(
            name, private_key, password(confirm=True, prompt=f"New password for {name}")
        )
    plain().print(f"imported wallet {wallet.name} {wallet.address}")


def _private_key(key_env: str | None) -> str:
    if key_env is not None:
        value = os.environ.get(key_env)
        if not value:
            raise CliError(f"environment variable {key_env} is unset or empty")
        return value
    try:
        return str(typer.prompt("Private key (hex)", hide_input=True))
    except typer.Abort as exc:  # end of input, or Ctrl-C at the prompt
        raise CliError("no private key given (type it, or use --key-env VAR)") from exc


@wallet_app.command("list")
@cli_errors
def list_(data_dir: str | None = DataDirOption, as_json: bool = JsonLinesOption) -> None:
    """The wallets in the data directory: name, address, whether an attribute key is saved.

    Example: medledger wallet list
    """
    store = wallet_store(data_dir)
    wallets = store.list()
    if as_json:
        json_lines(
            {
                "name": w.name,
                "address": w.address,
                "keystore": str(w.path),
                "attribute_key": w.user_key_path.exists(),
            }
            for w in wallets
        )
        return
    if not wallets:
        plain().print(f"no wallets in {store.directory}")
        return
    table = Table(title=f"wallets in {store.directory}")
    table.add_column("name")
    table.add_column("address", no_wrap=True)
    table.add_column("attribute key")
    for wallet in wallets:
        table.add_row(
            wallet.name, wallet.address, "saved" if wallet.user_key_path.exists() else "-"
        )
    plain().print(table)


@wallet_app.command("export")
@cli_errors
def export(
    name: str = typer.Argument(..., help="Wallet name or address."),
    output: Path | None = typer.Option(  # noqa: B008
        None,
        "--output",
        "-o",
        help="Write the keystore here instead of printing it ('-': standard output).",
    ),
    address: bool = typer.Option(False, "--address", help="Print only the address."),
    data_dir: str | None = DataDirOption,
) -> None:
    """Export a wallet's keystore JSON (still encrypted: import it in geth or MetaMask).

    Example: medledger wallet export alice -o alice.keystore.json
    """
    store = wallet_store(data_dir)
    wallet = store.get(name)
    if address:
        plain().print(wallet.address)
        return
    text = store.export_keystore(wallet.name)
    if output is None or is_stdout(output):
        typer.echo(text)
        return
    if output.exists():
        raise CliError(f"{output} exists; refusing to overwrite it")
    output.write_text(text + "\n", encoding="utf-8")
    output.chmod(0o600)
    plain().print(f"wrote the keystore of {wallet.name} ({wallet.address}) to {output}")
