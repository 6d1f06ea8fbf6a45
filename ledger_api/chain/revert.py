"""Decode revert data into the contract's custom error, by name, with named arguments.

Solidity reverts with ``selector ‖ abi.encode(args)``; the selector alone says nothing to a user.
One :class:`ErrorDecoder` knows the custom errors of every MedLedger contract (a selector is
global: the same error from any contract decodes the same way), plus the two built-ins
``Error(string)`` and ``Panic(uint256)``. The revert data itself is found where every EVM node
puts it: the ``data`` member of the JSON-RPC error of ``eth_call`` / ``eth_estimateGas``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak

import contracts
from crypto.addresses import to_checksum_address
from ledger_api.chain.errors import TransactionRevertedError

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
PANIC_SELECTOR = bytes.fromhex("4e487b71")

# Solidity's panic codes (docs: "Panic via assert and error via require").
PANIC_REASONS = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to zero-initialised function",
}


@dataclass(frozen=True)
class DecodedError:
    """A revert reason: ``name`` and ``args`` as declared in Solidity."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    data: bytes = b""

    def exception(self, *, tx_hash: str | None = None) -> TransactionRevertedError:
        return TransactionRevertedError(
            error_name=self.name, error_args=self.args, data=self.data, tx_hash=tx_hash
        )


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]


def canonical_type(item: Mapping[str, Any]) -> str:
    """ABI type string, expanding tuples (structs) into ``(t1,t2)``."""
    kind: str = item["type"]
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in item.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def normalize(kind: str, value: Any) -> Any:
    """Checksummed addresses (eth-abi returns lower case), lists for arrays, as web3 does."""
    if kind == "address":
        return to_checksum_address(value)
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        return [normalize(inner, v) for v in value]
    return value


class ErrorDecoder:
    """Maps 4-byte selectors to the custom errors declared in a set of ABIs."""

    def __init__(self, abis: Iterable[Iterable[Mapping[str, Any]]] = ()) -> None:
        self._errors: dict[bytes, _ErrorAbi] = {}
        for abi in abis:
            self.add_abi(abi)

    def add_abi(self, abi: Iterable[Mapping[str, Any]]) -> None:
        for item in abi:
            if item.get("type") != "error":
                continue
            inputs = item.get("inputs", [])
            types = tuple(canonical_type(i) for i in inputs)
            signature = f"{item['name']}({','.join(types)})"
            selector = keccak(text=signature)[:4]
            names = tuple(i.get("name") or f"arg{n}" for n, i in enumerate(inputs))
            self._errors[selector] = _ErrorAbi(name=item["name"], names=names, types=types)

    def known(self) -> list[str]:
        return sorted(e.name for e in self._errors.values())

    def decode(self, data: bytes) -> DecodedError:
        """Name and arguments of ``data``; unknown selectors are reported as hex, not guessed."""
        data = bytes(data)
        if not data:
            return DecodedError(name="EmptyRevert", data=data)
        selector, payload = data[:4], data[4:]
        try:
            if selector == ERROR_STRING_SELECTOR:
                (message,) = abi_decode(["string"], payload)
                return DecodedError(name="Error", args={"message": message}, data=data)
            if selector == PANIC_SELECTOR:
                (code,) = abi_decode(["uint256"], payload)
                reason = PANIC_REASONS.get(code, "unknown panic")
                return DecodedError(name="Panic", args={"code": code, "reason": reason}, data=data)
            known = self._errors.get(selector)
            if known is not None:
                values = abi_decode(list(known.types), payload)
                args = {
                    name: normalize(kind, value)
                    for name, kind, value in zip(known.names, known.types, values, strict=True)
                }
                return DecodedError(name=known.name, args=args, data=data)
        except DecodingError:
            pass
        return DecodedError(name=f"UnknownError_0x{selector.hex()}", data=data)


@cache
def error_decoder() -> ErrorDecoder:
    """Decoder for the custom errors of all MedLedger contracts (selectors are global)."""
    return ErrorDecoder(contracts.load(name)["abi"] for name in contracts.NAMES)


def revert_data_from_rpc_error(error: Any) -> bytes | None:
    """The revert bytes inside a JSON-RPC error object, or None when it is not a revert.

    Geth, Besu and anvil answer a reverting ``eth_call`` with code 3 (or -32000/-32015) and the
    raw data as a hex string in ``data``; some nodes nest it as ``data.data``.
    """
    if not isinstance(error, Mapping):
        return None
    data = error.get("data")
    if isinstance(data, Mapping):
        data = data.get("data") or data.get("result")
    message = str(error.get("message", ""))
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    if "revert" in message.lower():
        return b""
    return None
