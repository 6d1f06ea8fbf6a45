"""Checks of command-line input, run before any wallet is opened or any request is sent.

Bad input must cost nothing and leave nothing behind, so every command validates its
arguments here first; each check raises :class:`~clients.cli.common.CliError` with a message
that names the option and shows the value it got.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from eth_utils import is_hex_address, to_checksum_address

from clients.cli.common import EXIT_NOT_FOUND, CliError
from crypto.policy import parse
from crypto.signing import Purpose

HEX = frozenset("0123456789abcdefABCDEF")
PURPOSES = [p.name.lower() for p in Purpose]
PurposeOption = typer.Option("treatment", "--purpose", help=f"One of: {', '.join(PURPOSES)}.")

# The reasonCode of AccessLogged (ledger_api.services.access.Reason), for people.
REASONS = {
    0: "self",
    1: "consent",
    2: "policy consent",
    3: "workflow",
    4: "break-glass",
    5: "custodian re-key",
    10: "no consent",
    11: "record withdrawn",
    12: "no break-glass",
    13: "break-glass window ended",
    14: "no longer a member",
}


def address(value: str, what: str = "address") -> str:
    """A 0x address, checksummed; mixed case must be a correct EIP-55 checksum.

    All lower-case (or all upper-case) hex carries no checksum and is accepted as it is; an
    address in mixed case claims one, and a wrong one means a mistyped character: a consent to
    a mistyped address would stand on chain for a stranger (or nobody), so it is refused.
    """
    text = value.strip()
    if not is_hex_address(text):
        raise CliError(f"{what} must be a 0x-hex Ethereum address, got {value!r}")
    digits = text[2:]
    checksummed = to_checksum_address(text)
    if digits != digits.lower() and digits != digits.upper() and text != checksummed:
        raise CliError(
            f"{what} {value} has a wrong EIP-55 checksum (its mixed case does not match): a "
            "character is probably mistyped; check it, or give it all lower-case to skip the check"
        )
    return checksummed


def address_or_wallet(value: str, what: str, data_dir: str | Path | None) -> str:
    """An address (:func:`address`), or the address of the wallet of that name in the data
    directory, as ``--wallet`` takes it (``--to cardiologist``)."""
    text = value.strip()
    if text[:2].lower() == "0x" or (len(text) == 40 and all(c in HEX for c in text)):
        return address(text if text[:2].lower() == "0x" else "0x" + text, what)
    from clients.cli.common import wallet_store
    from clients.sdk.errors import WalletError

    try:
        return wallet_store(data_dir).get(text).address
    except WalletError:
        raise CliError(
            f"{what} must be a 0x address or the name of a wallet (medledger wallet list), "
            f"got {value!r}",
            exit_code=EXIT_NOT_FOUND,
        ) from None


def purpose(value: str) -> str:
    wanted = value.strip().lower()
    if wanted not in PURPOSES:
        raise CliError(f"unknown purpose {value!r}: {', '.join(PURPOSES)}")
    return wanted


def policy(text: str) -> str:
    """Check a policy's syntax (the error names the position); returns it unchanged."""
    parse(text)
    return text


def timestamp(value: str | None, option: str) -> str | None:
    """ISO 8601 with a zone, or unix seconds; ``None`` passes through."""
    if value is None:
        return None
    if value.isdigit():
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{option} must be ISO 8601 or unix seconds, got {value!r}") from None
    if parsed.tzinfo is None:
        raise CliError(f"{option} needs a timezone (e.g. 2026-11-26T08:00:00Z), got {value!r}")
    return parsed.isoformat()


def one_of(value: str, choices: tuple[str, ...], option: str) -> str:
    """``value`` if it is one of ``choices`` (the error lists them); returns it unchanged."""
    if value not in choices:
        raise CliError(f"{option} must be one of {', '.join(choices)}, got {value!r}")
    return value


def reason_code(text: str, option: str = "--reason") -> str:
    """A short reason code as the contracts store it: 1 to 32 bytes of UTF-8."""
    if not 1 <= len(text.encode()) <= 32:
        raise CliError(f"{option} is a short code of 1 to 32 bytes, got {text!r}")
    return text


def reason(code: object) -> str:
    if code is None:
        return "-"
    return REASONS.get(int(code), str(code))  # type: ignore[call-overload]
