"""EIP-55 checksummed addresses, cached: the API checksums the same few addresses all day.

Why: ``eth_utils.to_checksum_address`` validates its input through several layers and hashes
with eth-hash's pycryptodome backend (a ctypes object per hash); it cost about 50 µs a call
here, and a share calls it a dozen times (signed messages, decoded events, views). The result
depends only on the address, so it is cached (bounded) per lowercase address, and the hash is
``sha3.keccak_256`` (safe-pysha3, C) when installed. Same answers and the same errors as
eth-utils: anything that is not a 20-byte address goes to eth-utils itself, uncached.

EIP-55: Vitalik Buterin and Alex Van de Sande, "Mixed-case checksum address encoding" (2016).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from eth_utils import is_address as _eth_is_address
from eth_utils import to_checksum_address as _eth_checksum

try:  # a C keccak-256 (the hash EIP-55 names; hashlib's sha3_256 is the NIST variant)
    from sha3 import keccak_256 as _keccak_256
except ImportError:  # pragma: no cover - safe-pysha3 is a dependency
    _keccak_256 = None

__all__ = ["is_address", "to_checksum_address"]

_HEX40 = re.compile(r"(?:0x|0X)?[0-9a-fA-F]{40}")
_CACHE = 1 << 16


@lru_cache(maxsize=_CACHE)
def _checksum_of_lower(lower: str) -> str:
    """``lower``: 40 lowercase hex digits, no prefix."""
    if _keccak_256 is None:  # pragma: no cover
        return str(_eth_checksum("0x" + lower))
    digest = _keccak_256(lower.encode("ascii")).hexdigest()
    return "0x" + "".join(
        c.upper() if c > "9" and digest[i] >= "8" else c for i, c in enumerate(lower)
    )


def to_checksum_address(value: Any) -> str:
    """``eth_utils.to_checksum_address``, cached for hex text (bytes and odd input: eth-utils)."""
    if isinstance(value, str) and _HEX40.fullmatch(value):
        return _checksum_of_lower(value[-40:].lower())
    return str(_eth_checksum(value))


@lru_cache(maxsize=_CACHE)
def _is_address_text(value: str) -> bool:
    return bool(_eth_is_address(value))


def is_address(value: Any) -> bool:
    """``eth_utils.is_address`` (a mixed-case address must carry a valid checksum), cached
    for text."""
    if isinstance(value, str):
        return _is_address_text(value)
    return bool(_eth_is_address(value))
