"""What every ``medledger`` sub-command shares: options, consoles, wallets, errors, progress.

One place decides how a failure looks to the user (one line ``error: …`` on stderr, an exit
code that says what kind of failure it was, never a traceback), where wallets live, how the
wallet password is obtained (``MEDLEDGER_WALLET_PASSWORD`` for scripts, else a hidden prompt;
never an argument, which would land in shell history and ``ps``), and how a signed-in
:class:`~clients.sdk.MedLedgerClient` is opened. The command modules stay thin: parse, call the
SDK or the chain wrappers, print.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text
from typer.exceptions import TyperException

from clients.cli.output import JsonLinesOption as JsonLinesOption
from clients.cli.output import plain as plain
from clients.cli.output import short as short
from clients.cli.output import stdout as stdout
from clients.cli.output import when as when
from clients.sdk.errors import (
    ApiError,
    ApiUnavailableError,
    ClientError,
    NotAllowedError,
    NotFoundError,
    WalletNotFoundError,
    WrongPasswordError,
)
from clients.sdk.wallet import Wallet, WalletStore
from crypto.errors import CryptoError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from clients.sdk import MedLedgerClient

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_RPC_URL = "http://127.0.0.1:8545"
PASSWORD_ENV = "MEDLEDGER_WALLET_PASSWORD"

# Exit codes: scripts can tell "fix your input" from "the service is down" without parsing text.
EXIT_ERROR = 1  # anything else of ours (bad input, chain revert, crypto failure, …)
EXIT_USAGE = 2  # click's own code for bad options
EXIT_UNAVAILABLE = 3  # the API (or chain node) cannot be reached, or answered 503
EXIT_NOT_FOUND = 4  # 404, or a local file / wallet that does not exist
EXIT_NOT_ALLOWED = 5  # 401/403: the caller may not do this
EXIT_WRONG_PASSWORD = 6  # the wallet password does not open the keystore
EXIT_INTERRUPTED = 130

# ----------------------------------------------------------------------------- options

ApiOption = typer.Option(
    DEFAULT_API_URL,
    "--api",
    envvar="MEDLEDGER_API_URL",
    help="Base URL of the MedLedger API.",
    show_envvar=True,
)
DataDirOption = typer.Option(
    None,
    "--data-dir",
    envvar="MEDLEDGER_DATA_DIR",
    help="Where wallets (and the dev chain's files) live [~/.medledger].",
    show_envvar=True,
)
WalletOption = typer.Option(
    None,
    "--wallet",
    "-w",
    envvar="MEDLEDGER_WALLET",
    help="Wallet name or address (default: the only wallet in the data dir).",
    show_envvar=True,
)
RpcOption = typer.Option(
    DEFAULT_RPC_URL,
    "--rpc",
    envvar="MEDLEDGER_RPC_URL",
    help="JSON-RPC URL of the chain node.",
    show_envvar=True,
)

JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")
DeploymentOption = typer.Option(
    None,
    "--deployment",
    envvar="MEDLEDGER_DEPLOYMENT_FILE",
    help="The deployment file with the contract addresses [<data-dir>/deployment.json].",
    show_envvar=True,
)

# ----------------------------------------------------------------------------- consoles


def stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False, markup=False)


def info(message: str) -> None:
    """A progress note (stderr, so stdout stays clean for tables and files)."""
    stderr().print(message)


def styled(text: str, style: str) -> Text:
    """``text`` in a style, without markup parsing."""
    return Text(text, style=style)


# ----------------------------------------------------------------------------- errors


class CliError(ClientError):
    """A failure the CLI itself detects (bad option combination, missing file, …)."""

    def __init__(self, message: str, *, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def one_line(exc: BaseException) -> str:
    """The exception's message on a single line (validators like to write paragraphs)."""
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    elif isinstance(exc, _loaded("httpx", "HTTPError")):
        text = f"HTTP failure: {exc}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _loaded(module: str, name: str) -> tuple[type[BaseException], ...]:
    """``module.name`` if that module was imported, else nothing: an exception of a library
    this command never loaded cannot have been raised, and importing it to check would cost
    every command the library's start-up (web3, the server's packages)."""
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded is not None else ()


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, CliError):
        return exc.exit_code
    unavailable = (
        ApiUnavailableError,
        *_loaded("httpx", "TransportError"),
        *_loaded("ledger_api.chain.errors", "ChainConnectionError"),
    )
    if isinstance(exc, unavailable):
        return EXIT_UNAVAILABLE
    if isinstance(exc, WrongPasswordError):
        return EXIT_WRONG_PASSWORD
    if isinstance(exc, NotAllowedError):
        return EXIT_NOT_ALLOWED
    missing = (
        NotFoundError,
        FileNotFoundError,
        WalletNotFoundError,
        *_loaded("ledger_api.authority.keystore", "AuthorityNotFoundError"),
    )
    if isinstance(exc, missing):
        return EXIT_NOT_FOUND
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return EXIT_NOT_ALLOWED
        if exc.status == 503:
            return EXIT_UNAVAILABLE
    return EXIT_ERROR


# Failures whose cause is a missing step: the line ends with the command that takes it.
NEXT_STEP = (
    (
        "no deployment file at",
        "run `medledger node up` (dev chain: starts anvil and deploys the contracts), or give "
        "your network's file with --deployment / MEDLEDGER_DEPLOYMENT_FILE",
    ),
    ("cannot reach the MedLedger API", "is it running? `medledger serve` starts it"),
    (
        "eth_chainId to",
        "is the chain node running? `medledger node up` starts the dev chain",
    ),
)


def with_next_step(message: str) -> str:
    """``message``, plus the command to run next when the failure is a known missing step."""
    for start, step in NEXT_STEP:
        if start in message and step.split("`")[1] not in message:
            return f"{message} — {step}"
    return message


def fail(message: str, *, exit_code: int = EXIT_ERROR) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit to raise.

    No markup: validator messages carry ``[type=missing, …]``, which rich would swallow.
    """
    stderr().print(Text("error:", style="bold red"), " ".join(message.split()))
    return typer.Exit(code=exit_code)


HANDLED: tuple[type[BaseException], ...] = (
    ClientError,
    CryptoError,
    OSError,
    ValueError,
)


def handled() -> tuple[type[BaseException], ...]:
    """:data:`HANDLED`, plus the server's and web3's base errors when the command loaded them
    (admin and node commands use the chain wrappers; direct chain reads raise web3's)."""
    return (
        *HANDLED,
        *_loaded("httpx", "HTTPError"),
        *_loaded("ledger_api.errors", "LedgerApiError"),
        *_loaded("web3.exceptions", "Web3Exception"),
    )


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command: our failures become one line on stderr and a meaningful exit code.

    ``functools.wraps`` keeps the signature, which is what typer reads to build the options.
    Typer's own exceptions (usage errors, ``typer.Exit``) pass through untouched.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except KeyboardInterrupt:
            raise fail("interrupted", exit_code=EXIT_INTERRUPTED) from None
        except Exception as exc:
            if not isinstance(exc, handled()):
                raise
            raise fail(with_next_step(one_line(exc)), exit_code=exit_code_for(exc)) from None

    return wrapper


# ----------------------------------------------------------------------------- paths, wallets


def default_data_dir() -> Path:
    """``MEDLEDGER_DATA_DIR``, else ``~/.medledger`` (as ``ledger_api.chain.devnode`` and the
    API's settings decide it; not imported from there, which would load web3)."""
    return Path(os.environ.get("MEDLEDGER_DATA_DIR") or Path.home() / ".medledger")


def resolve_data_dir(value: str | Path | None) -> Path:
    return Path(value).expanduser() if value else default_data_dir()


def wallet_store(data_dir: str | Path | None, *, scrypt_log2_n: int | None = None) -> WalletStore:
    directory = resolve_data_dir(data_dir)
    if scrypt_log2_n is None:
        return WalletStore(directory)
    return WalletStore(directory, scrypt_log2_n=scrypt_log2_n)


def password(*, confirm: bool = False, prompt: str = "Wallet password") -> str:
    """``MEDLEDGER_WALLET_PASSWORD`` if set (scripts, CI), else a hidden prompt."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    try:
        entered = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    except typer.Abort:
        raise CliError(f"no wallet password given (type it, or set {PASSWORD_ENV})") from None
    if not entered:
        raise CliError("the wallet password must not be empty")
    return str(entered)


def select_wallet(store: WalletStore, name: str | None) -> Wallet:
    """The wallet named (or with that address); without a name, the only wallet there is."""
    if name:
        return store.get(name)
    wallets = store.list()
    if len(wallets) == 1:
        return wallets[0]
    if not wallets:
        raise CliError(
            f"no wallet in {store.directory}: create one with `medledger wallet new NAME`",
            exit_code=EXIT_NOT_FOUND,
        )
    names = ", ".join(w.name for w in wallets)
    raise CliError(f"several wallets ({names}): choose one with --wallet NAME")


def unlock(data_dir: str | Path | None, wallet: str | None) -> tuple[Wallet, LocalAccount, str]:
    """Select the wallet, ask for its password, open it: (wallet, account, password)."""
    chosen = select_wallet(wallet_store(data_dir), wallet)
    secret = password(prompt=f"Password of wallet {chosen.name}")
    return chosen, chosen.unlock(secret), secret


@contextmanager
def signed_in(
    api: str, data_dir: str | Path | None, wallet: str | None
) -> Iterator[tuple[MedLedgerClient, Wallet, str]]:
    """A client signed in (SIWE) with the chosen wallet; signed out on the way out."""
    from clients.sdk import MedLedgerClient
    from clients.sdk.outbox import Outbox

    chosen, account, secret = unlock(data_dir, wallet)
    outbox = Outbox.of_data_dir(resolve_data_dir(data_dir))  # shares kept until acknowledged
    with MedLedgerClient(api, account=account, outbox=outbox) as client:
        client.login()
        try:
            yield client, chosen, secret
        finally:
            # the session expires by itself; a failed logout must not hide the result
            with suppress(ClientError):
                client.logout()


# ----------------------------------------------------------------------------- progress


@contextmanager
def transfer_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields the ``progress(done, total)`` callback the SDK takes.

    Hidden when stderr is not a terminal (logs and captured output get no control codes).
    """
    bar = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def count_bar() -> Progress:
    """A rich bar counting items (records, rows) on stderr, hidden when stderr is not a terminal.

    One look for every command that works through a list, so the bars do not drift apart; the
    task's description is the label.
    """
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr(),
        transient=True,
        disable=not sys.stderr.isatty(),
    )


@contextmanager
def records_progress(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A :func:`count_bar` over records; yields the SDK's ``progress(done, total, record_id)``."""
    bar = count_bar()
    with bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int, _record_id: str) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def ensure_parent(path: Path) -> None:
    if not path.parent.exists():
        raise CliError(f"directory does not exist: {path.parent}", exit_code=EXIT_NOT_FOUND)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
