"""The base of the typed contract wrappers: encoding, reads, writes, events, input checks.

Each wrapper (``Consortium``, ``RecordRegistry`` …) is a small class over a web3 contract
object. What they share lives here, so that every one of them reports a revert by its custom
error name, returns events as plain dataclasses, and refuses a malformed argument with
:class:`~ledger_api.chain.errors.InvalidChainInputError` before anything reaches the node
(web3's own messages for a wrong-length ``bytes32`` name no argument).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_utils import is_address, keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError

import contracts
from ledger_api.chain.errors import InvalidChainInputError
from ledger_api.chain.relayer import Receipt, Relayer
from ledger_api.chain.revert import canonical_type, error_decoder, normalize


@dataclass(frozen=True)
class Event:
    """One decoded log: the event name, its arguments by name, and where it happened."""

    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class _EventAbi:
    name: str
    inputs: tuple[Mapping[str, Any], ...]


class EventDecoder:
    """Decodes raw JSON-RPC logs (``eth_getLogs``, receipts) by ``topic0``.

    Indexed dynamic values (strings, arrays) are only their keccak hash in a topic; they are
    returned as those 32 bytes, as every EVM client does.
    """

    def __init__(self, abis: Iterable[Iterable[Mapping[str, Any]]]) -> None:
        self._events: dict[bytes, _EventAbi] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                types = ",".join(canonical_type(i) for i in item["inputs"])
                topic = keccak(text=f"{item['name']}({types})")
                self._events[topic] = _EventAbi(item["name"], tuple(item["inputs"]))

    def topic(self, name: str) -> str:
        for topic, event in self._events.items():
            if event.name == name:
                return "0x" + topic.hex()
        raise KeyError(name)

    def decode(self, log: Mapping[str, Any]) -> Event | None:
        topics = [bytes.fromhex(t[2:]) for t in log.get("topics", [])]
        if not topics or topics[0] not in self._events:
            return None
        event = self._events[topics[0]]
        indexed = [i for i in event.inputs if i.get("indexed")]
        plain = [i for i in event.inputs if not i.get("indexed")]
        data = bytes.fromhex(str(log.get("data", "0x"))[2:])
        values = abi_decode([canonical_type(i) for i in plain], data) if plain else ()
        args: dict[str, Any] = {}
        plain_values = {
            i["name"]: normalize(canonical_type(i), v) for i, v in zip(plain, values, strict=True)
        }
        for n, item in enumerate(indexed, start=1):
            kind = canonical_type(item)
            if _is_dynamic(kind):
                args[item["name"]] = topics[n]
            else:
                (value,) = abi_decode([kind], topics[n])
                args[item["name"]] = normalize(kind, value)
        for item in event.inputs:
            if not item.get("indexed"):
                args[item["name"]] = plain_values[item["name"]]
        return Event(
            name=event.name,
            args=args,
            address=to_checksum_address(log["address"]),
            block_number=int(log["blockNumber"], 16),
            tx_hash=log["transactionHash"],
            log_index=int(log["logIndex"], 16),
        )


def _is_dynamic(kind: str) -> bool:
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")


@cache
def event_decoder() -> EventDecoder:
    return EventDecoder(contracts.load(name)["abi"] for name in contracts.NAMES)


@dataclass(frozen=True)
class Mined:
    """A successful transaction and the events it emitted (of our contracts)."""

    receipt: Receipt
    events: list[Event] = field(default_factory=list)

    @property
    def tx_hash(self) -> str:
        return self.receipt.tx_hash

    @property
    def gas_used(self) -> int:
        return self.receipt.gas_used

    @property
    def block_number(self) -> int:
        return self.receipt.block_number

    def event(self, name: str) -> Event:
        """The first event called ``name``; KeyError names what was emitted instead."""
        for event in self.events:
            if event.name == name:
                return event
        raise KeyError(f"no {name} event; emitted: {[e.name for e in self.events]}")


class PendingTx:
    """A sent transaction; :meth:`wait` returns it :class:`Mined` or raises its revert."""

    def __init__(self, sender: Relayer, tx_hash: str) -> None:
        self.sender = sender
        self.tx_hash = tx_hash

    def wait(self, *, timeout: float | None = None) -> Mined:
        receipt = self.sender.wait(self.tx_hash, timeout=timeout)
        events = [e for e in (event_decoder().decode(log) for log in receipt.logs) if e]
        return Mined(receipt=receipt, events=events)


class BoundContract:
    """A deployed contract plus the account that sends its transactions."""

    NAME: ClassVar[str]

    def __init__(self, w3: Web3, address: str, *, sender: Relayer | None = None) -> None:
        self.w3 = w3
        self.address = check_address(address, "address")
        self.sender = sender
        self.contract = w3.eth.contract(address=self.address, abi=contracts.load(self.NAME)["abi"])

    def _read(self, function: str, *args: Any) -> Any:
        try:
            return self.contract.functions[function](*args).call()
        except ContractLogicError as exc:
            data = exc.data if isinstance(exc.data, str) else None
            raw = bytes.fromhex(data[2:]) if data and data.startswith("0x") else b""
            raise error_decoder().decode(raw).exception() from exc

    def _encode(self, function: str, *args: Any) -> bytes:
        return bytes.fromhex(self.contract.encode_abi(function, args=list(args))[2:])

    def _write(self, function: str, *args: Any, gas: int | None = None) -> PendingTx:
        if self.sender is None:
            raise InvalidChainInputError(f"{self.NAME}.{function} needs a sender (a Relayer)")
        data = self._encode(function, *args)
        return PendingTx(self.sender, self.sender.send(to=self.address, data=data, gas=gas))


# -- input checks: precise errors before web3 sees the values ------------------------------


def check_address(value: Any, name: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidChainInputError(f"{name} must be a 20-byte hex address, got {value!r}")
    return to_checksum_address(value)


def check_bytes32(value: Any, name: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            value = bytes.fromhex(value[2:])
        except ValueError:
            raise InvalidChainInputError(f"{name} is not hex: {value!r}") from None
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise InvalidChainInputError(f"{name} must be 32 bytes, got {size}")
    return bytes(value)


def check_uint(value: Any, bits: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise InvalidChainInputError(f"{name} must be an integer in [0, 2^{bits}), got {value!r}")
    return int(value)


def check_text(value: Any, name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidChainInputError(f"{name} must be a non-empty string, got {value!r}")
    return value


def check_batch(items: Sequence[Any], maximum: int, name: str) -> None:
    if not 1 <= len(items) <= maximum:
        raise InvalidChainInputError(f"{name} must hold 1 to {maximum} entries, got {len(items)}")
