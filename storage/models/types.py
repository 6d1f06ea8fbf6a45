"""Column types that make every address, hash and timestamp look the same in the index.

Conventions (one rule per kind of value, so joins and ``WHERE`` clauses never miss on case
or encoding):

- **addresses** are stored as lowercase ``0x``-prefixed hex text (42 chars). Lowercase, not
  EIP-55 checksummed, because SQL comparisons are case-sensitive and a lowercase string is
  what every client can produce without a keccak; the API checksums on the way out;
- **bytes32** values (record ids, consent ids, hashes, tx hashes) are lowercase
  ``0x``-prefixed hex text (66 chars), readable in ``psql`` and in audit exports;
- **on-chain times** (block time, not-before, expires-at) are unix seconds in a BIGINT, exactly
  as the chain has them, so an auditor compares them with no conversion; a ``uint64`` above
  2**63-1 (only ever used to mean "never") is stored as 2**63-1;
- **uint256 counters** chosen by clients (consent nonces) are decimal text: SQLite would round
  an integer above 2**63 to a float;
- **off-chain times** (sessions, SIWE nonces, bookkeeping) are timezone-aware UTC datetimes.

The types normalise on the way in (``0xABC…`` and raw ``bytes`` both become ``0xabc…``);
the ORM validates on attribute assignment (see ``storage.models.validators``) so a bad value
raises :class:`~storage.errors.InvalidColumnValueError` before anything is flushed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from storage.errors import InvalidColumnValueError

INT64_MAX = 2**63 - 1
UINT256_MAX = 2**256 - 1
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = "0x" + "00" * 32

_HEX = re.compile(r"^(0x)?[0-9a-fA-F]*$")


def _hex(value: Any, size: int, what: str) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) != size:
            raise InvalidColumnValueError(f"{what} must be {size} bytes, got {len(raw)}")
        return "0x" + raw.hex()
    if not isinstance(value, str):
        raise InvalidColumnValueError(
            f"{what} must be hex text or bytes, got {type(value).__name__}"
        )
    if not _HEX.match(value):
        raise InvalidColumnValueError(f"{what} is not hex: {value!r}")
    digits = value[2:] if value[:2].lower() == "0x" else value
    if len(digits) != 2 * size:
        raise InvalidColumnValueError(
            f"{what} must be {size} bytes ({2 * size} hex digits), got {len(digits)} digits"
        )
    return "0x" + digits.lower()


def to_address(value: Any) -> str:
    """Lowercase ``0x`` hex of a 20-byte address; raises on anything else."""
    return _hex(value, 20, "address")


def to_bytes32(value: Any) -> str:
    """Lowercase ``0x`` hex of a 32-byte value; raises on anything else."""
    return _hex(value, 32, "bytes32 value")


def clamp_uint64(value: int) -> int:
    """A ``uint64`` as a signed BIGINT: values above 2**63-1 ("never") become 2**63-1."""
    if value < 0:
        raise InvalidColumnValueError(f"uint64 value must not be negative, got {value}")
    return min(value, INT64_MAX)


def to_uint256_text(value: Any) -> str:
    """Decimal text of a ``uint256``; rejects negatives, overflow and non-integers."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidColumnValueError(f"uint256 value must be an integer, got {value!r}")
    if not 0 <= value <= UINT256_MAX:
        raise InvalidColumnValueError(f"uint256 value out of range: {value}")
    return str(value)


class Address(sa.types.TypeDecorator[str]):
    """A 20-byte address as lowercase ``0x`` hex text."""

    impl = sa.String(42)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else to_address(value)


class Bytes32(sa.types.TypeDecorator[str]):
    """A 32-byte value (id, hash) as lowercase ``0x`` hex text."""

    impl = sa.String(66)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else to_bytes32(value)


class Uint256(sa.types.TypeDecorator[str]):
    """A ``uint256`` as decimal text (exact on every backend)."""

    impl = sa.String(78)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else to_uint256_text(value)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime; SQLite's naive values come back tagged as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidColumnValueError(f"expected a timezone-aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
