"""Checks of command-line input, run before any wallet is opened or any request is sent.

Bad input must cost nothing and leave nothing behind, so every command validates its
arguments here first; each check raises :class:`~clients.cli.common.CliError` with a message
that names the option and shows the value it got.
"""

from __future__ import annotations

from datetime import datetime

import typer
from eth_utils import is_address, to_checksum_address

from clients.cli.common import CliError
from crypto.policy import parse
from crypto.signing import Purpose

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
    """A 0x address, checksummed."""
    if not is_address(value):
        raise CliError(f"{what} must be a 0x-hex Ethereum address, got {value!r}")
    return to_checksum_address(value)


def bytes32_hex(value: str, what: str = "a record id") -> str:
    """``0x`` + 64 hex digits, lower-cased (record ids, consent ids)."""
    raw = value[2:] if value.lower().startswith("0x") else value
    if len(raw) != 64 or any(c not in "0123456789abcdefABCDEF" for c in raw):
        raise CliError(f"{what} is 0x followed by 64 hex digits, got {value!r}")
    return "0x" + raw.lower()


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
