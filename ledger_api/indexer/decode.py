"""Turn raw ``eth_getLogs`` entries into plain Python events, fast.

web3's ``Contract.events.X().process_log`` builds AttributeDicts and re-derives the ABI on
every call; at tens of thousands of logs per range that dominates indexing time. Here every
event ABI is compiled once into an :class:`EventSpec` keyed by ``(address, topic0)``: indexed
arguments come straight from the topics, and data made only of static words (the common case:
``AccessLogged``) is sliced word by word; anything dynamic goes through ``eth_abi.decode``.

Values use the index's conventions (:mod:`storage.models.types`): addresses and ``bytes32`` as
lowercase ``0x`` hex, integers as ``int``, booleans as ``bool``, strings as ``str``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import event_abi_to_log_topic

from ledger_api.indexer.errors import EventDecodeError, IndexerConfigError

_STATIC_ELEMENTARY = ("uint", "int", "address", "bool", "bytes32")


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One decoded log, with its position on chain."""

    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    log_index: int
    tx_hash: str
    block_time: int | None = None

    @property
    def position(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)


def _abi_type(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){kind[5:]}"
    return kind


def _is_static_word(kind: str) -> bool:
    if kind == "bytes32" or kind in ("address", "bool"):
        return True
    return kind.startswith(("uint", "int")) and "[" not in kind


def _word_decoder(kind: str) -> Callable[[str], Any]:
    """Decode one 32-byte word given as 64 hex digits (lowercase, from the node)."""
    if kind == "address":
        return lambda word: "0x" + word[24:]
    if kind == "bool":
        return lambda word: int(word, 16) != 0
    if kind == "bytes32":
        return lambda word: "0x" + word
    if kind.startswith("uint"):
        return lambda word: int(word, 16)
    if kind.startswith("int"):
        bits = 256

        def signed(word: str) -> int:
            value = int(word, 16)
            return value - (1 << bits) if value >> (bits - 1) else value

        return signed
    raise IndexerConfigError(f"no word decoder for ABI type {kind!r}")


def _normalise(kind: str, value: Any) -> Any:
    """eth_abi output to index conventions (lowercase hex for addresses and bytes)."""
    if kind == "address":
        return value.lower()
    if kind.startswith("bytes") and "[" not in kind:
        return "0x" + bytes(value).hex()
    if kind.endswith("]"):
        element = kind[: kind.rindex("[")]
        return [_normalise(element, v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A compiled event ABI: how to read its topics and data."""

    contract: str
    name: str
    topic0: str
    indexed: tuple[tuple[str, str, Callable[[str], Any] | None], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    data_words: tuple[Callable[[str], Any], ...] | None

    @classmethod
    def from_abi(cls, contract: str, abi: Mapping[str, Any]) -> EventSpec:
        if abi.get("anonymous"):
            raise IndexerConfigError(f"{contract}.{abi.get('name')}: anonymous events unsupported")
        indexed: list[tuple[str, str, Callable[[str], Any] | None]] = []
        data_names: list[str] = []
        data_types: list[str] = []
        for item in abi["inputs"]:
            kind = _abi_type(item)
            if item.get("indexed"):
                # A dynamic indexed value is only its keccak in the topic: keep the hash.
                decoder = _word_decoder(kind) if _is_static_word(kind) else None
                indexed.append((item["name"], kind, decoder))
            else:
                data_names.append(item["name"])
                data_types.append(kind)
        words = (
            tuple(_word_decoder(t) for t in data_types)
            if all(_is_static_word(t) for t in data_types)
            else None
        )
        topic0 = "0x" + event_abi_to_log_topic(dict(abi)).hex()
        return cls(
            contract=contract,
            name=str(abi["name"]),
            topic0=topic0,
            indexed=tuple(indexed),
            data_names=tuple(data_names),
            data_types=tuple(data_types),
            data_words=words,
        )

    def decode(self, log: Mapping[str, Any]) -> dict[str, Any]:
        topics: Sequence[str] = log["topics"]
        if len(topics) != len(self.indexed) + 1:
            raise EventDecodeError(
                f"{self.contract}.{self.name} at block {log.get('blockNumber')} log "
                f"{log.get('logIndex')}: {len(topics) - 1} indexed topics, expected "
                f"{len(self.indexed)}"
            )
        args: dict[str, Any] = {}
        for (name, _kind, decoder), topic in zip(self.indexed, topics[1:], strict=True):
            word = topic[2:].lower()
            args[name] = decoder(word) if decoder is not None else "0x" + word
        data: str = log["data"]
        if self.data_words is not None:
            hexdata = data[2:].lower()
            if len(hexdata) != 64 * len(self.data_words):
                raise EventDecodeError(
                    f"{self.contract}.{self.name} at block {log.get('blockNumber')}: data is "
                    f"{len(hexdata) // 2} bytes, expected {32 * len(self.data_words)}"
                )
            for i, (name, decoder) in enumerate(zip(self.data_names, self.data_words, strict=True)):
                args[name] = decoder(hexdata[64 * i : 64 * i + 64])
            return args
        try:
            values = abi_decode(list(self.data_types), bytes.fromhex(data[2:]))
        except (DecodingError, ValueError) as exc:
            raise EventDecodeError(
                f"{self.contract}.{self.name} at block {log.get('blockNumber')}: {exc}"
            ) from exc
        for name, kind, value in zip(self.data_names, self.data_types, values, strict=True):
            args[name] = _normalise(kind, value)
        return args


class EventDecoder:
    """Decodes logs of a fixed set of contracts: ``{address: (contract name, ABI)}``."""

    def __init__(self, contracts: Mapping[str, tuple[str, Iterable[Mapping[str, Any]]]]) -> None:
        self._specs: dict[tuple[str, str], EventSpec] = {}
        self.addresses: dict[str, str] = {}
        for address, (name, abi) in contracts.items():
            address = address.lower()
            self.addresses[address] = name
            for item in abi:
                if item.get("type") == "event":
                    spec = EventSpec.from_abi(name, item)
                    self._specs[(address, spec.topic0)] = spec

    def event_names(self) -> set[tuple[str, str]]:
        return {(spec.contract, spec.name) for spec in self._specs.values()}

    def decode(self, log: Mapping[str, Any], block_time: int | None = None) -> ChainEvent | None:
        """The decoded event, or None for a log this decoder does not know (ignored)."""
        topics = log.get("topics") or []
        if not topics:
            return None
        spec = self._specs.get((str(log["address"]).lower(), str(topics[0]).lower()))
        if spec is None:
            return None
        return ChainEvent(
            contract=spec.contract,
            name=spec.name,
            args=spec.decode(log),
            block_number=int(log["blockNumber"], 16),
            log_index=int(log["logIndex"], 16),
            tx_hash=str(log["transactionHash"]).lower(),
            block_time=block_time,
        )
