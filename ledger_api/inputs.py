"""Strict parsing of untrusted input: numbers, hex ids, and how bad input is quoted back.

Why a module of its own: ``str.isdigit()`` is true for ``"²"`` and ``"١٢"`` and ``int()`` then
fails (a 500), pydantic's lax integers accept ``" 1_000 "`` and ``"12.0"``, and an error message
that echoes its input turns a 20 MiB body into a 20 MiB answer. Every route and service parses
numbers and ids through these functions, so one rule holds everywhere: **ASCII digits only**,
bounded; **hex of the exact length**; quoted back as **a short prefix**.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import annotated_types as at
from fastapi import Query
from pydantic import BeforeValidator

from ledger_api.http_errors import UnprocessableError

__all__ = [
    "MAX_OFFSET",
    "UINT64_MAX",
    "UINT256_MAX",
    "Offset",
    "StrictUint",
    "ascii_uint",
    "hex_bytes32",
    "is_ascii_digits",
    "is_hex32",
    "quote",
    "short_text",
    "strict_optional_uint",
    "strict_uint",
    "uint_field",
    "uint_query",
]

UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
# no listing holds more rows than this; a larger offset is a client bug (and overflows
# PostgreSQL's BIGINT, which was a 500)
MAX_OFFSET = 1_000_000_000
MAX_BLOCK = 2**63 - 1  # a BIGINT, and far beyond any chain's head
QUOTE_LIMIT = 32
_DIGITS = re.compile(r"[0-9]{1,78}")  # 78 digits hold any uint256
_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of at most ``limit`` characters of ``value`` (with ``…`` when cut).

    Error messages and ``details`` name the bad input so the caller can find it, but never
    echo more than a prefix: the answer to a 20 MiB field stays a few hundred bytes.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        return repr(text[:limit]) + "…"
    return repr(text) if isinstance(value, str) else text


def is_ascii_digits(text: str) -> bool:
    """``"0"``-``"9"`` only (``str.isdigit`` also accepts ``"²"``, ``"١"`` …), 1-78 of them."""
    return _DIGITS.fullmatch(text) is not None


def is_hex32(text: str) -> bool:
    """``0x`` and exactly 64 hex digits."""
    return isinstance(text, str) and _HEX32.fullmatch(text) is not None


def ascii_uint(
    value: Any, *, name: str, maximum: int, code: str = "invalid_input", minimum: int = 0
) -> int:
    """An int, or a string of ASCII digits, within ``[minimum, maximum]``; else 422 ``code``."""
    if isinstance(value, str) and is_ascii_digits(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise UnprocessableError(
            f"{name} must be an integer in [{minimum}, {maximum}] (ASCII digits), "
            f"got {quote(value)}",
            code=code,
            details={name: quote(value)},
        )
    return value


def hex_bytes32(value: Any, *, name: str, code: str) -> str:
    """A ``0x`` + 64 hex digit id, lower-cased; 422 ``code`` otherwise (before any lookup)."""
    if not isinstance(value, str) or not is_hex32(value):
        raise UnprocessableError(
            f"{name} must be 0x followed by 64 hex digits, got {quote(value)}",
            code=code,
            details={name: quote(value)},
        )
    return value.lower()


def strict_uint(value: Any) -> Any:
    """A pydantic before-validator: ints pass, strings must be ASCII digits (then int).

    Query parameters arrive as strings; pydantic alone would accept ``" 1_000 "``, ``"+5"`` and
    ``"12.0"``. Bounds are the field's own ``ge``/``le``.
    """
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and is_ascii_digits(value):
        return int(value)
    raise ValueError("must be an unsigned integer written in ASCII digits")


def short_text(value: Any, limit: int = 40) -> Any:
    """A before-validator bounding a string that is parsed into something else (a time)."""
    if isinstance(value, str) and len(value) > limit:
        raise ValueError(f"at most {limit} characters")
    return value


def strict_optional_uint(value: Any) -> Any:
    """:func:`strict_uint` that lets ``None`` (an omitted optional parameter) through."""
    return None if value is None else strict_uint(value)


# (the bounds go before the validator: that order keeps them as minimum/maximum in the OpenAPI)
StrictUint = Annotated[int, BeforeValidator(strict_uint)]
Offset = Annotated[
    int,
    Query(ge=0, le=MAX_OFFSET, description="How many items to skip."),
    BeforeValidator(strict_uint),
]


def uint_query(*, ge: int = 0, le: int, description: str | None = None) -> Any:
    """A strictly parsed, bounded integer query parameter (``Annotated[int, Query(...)]``)."""
    return Annotated[
        int, Query(ge=ge, le=le, description=description), BeforeValidator(strict_uint)
    ]


def uint_field(*, ge: int = 0, le: int) -> Any:
    """A strictly parsed, bounded integer for request models (JSON int or ASCII digits)."""
    return Annotated[int, at.Ge(ge), at.Le(le), BeforeValidator(strict_uint)]
