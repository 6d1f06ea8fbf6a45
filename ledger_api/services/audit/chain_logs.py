"""The chain half of ``/audit/verify``'s reading: logs chunk by chunk, and lookups by id.

:meth:`ChainLogs.chunks` walks a block range with plain ``eth_getLogs`` calls (address list
and block range: any EVM node answers them) and yields each window's decoded events, so that
nothing of the range but the current window is ever held. The window adapts to the density of
the chain: it shrinks when a call returned more than ``target_logs`` logs and grows (up to
``max_blocks``) when it returned less than half, so a window holds about ``target_logs``
events whether the chain is empty or every block is full. A node that refuses a range (too
many results) gets it in halves.

:meth:`ChainLogs.lookup` finds, anywhere between two blocks, the events of some kinds whose
first indexed argument is one of a set of ids (one ``eth_getLogs`` with a topic filter per
hundred ids): what the verification asks when an event of the window names something that
happened before it (the consent a read cites, the body a header-only re-key keeps, a later
re-key that replaced a version's blocks).

Events are decoded with the indexer's decoder, the one mapping of ABI to index values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3 import Web3

from ledger_api.chain.connection import rpc
from ledger_api.chain.errors import RpcError
from ledger_api.indexer.decode import ChainEvent, EventDecoder
from ledger_api.indexer.runner import block_times, load_abis

__all__ = ["FOLLOWED", "ChainLogs", "Chunk"]

FOLLOWED = (
    "Consortium",
    "RecordRegistry",
    "ConsentManager",
    "AccessLog",
    "Workflow",
    "EmergencyAccess",
)
DEFAULT_MAX_BLOCKS = 2_000
DEFAULT_TARGET_LOGS = 1_000
FIRST_WINDOW = 100
LOOKUP_IDS = 100


@dataclass(frozen=True, slots=True)
class Chunk:
    """One window ``[low, high]`` of the range and its decoded events, in chain order."""

    low: int
    high: int
    events: list[ChainEvent]


class ChainLogs:
    """Decoded logs of the followed contracts (``{name: address}``)."""

    def __init__(
        self,
        w3: Web3,
        addresses: dict[str, str],
        *,
        max_blocks: int = DEFAULT_MAX_BLOCKS,
        target_logs: int = DEFAULT_TARGET_LOGS,
    ) -> None:
        if max_blocks < 1 or target_logs < 1:
            raise ValueError("max_blocks and target_logs must be positive")
        self.w3 = w3
        self.addresses = {name: address.lower() for name, address in addresses.items()}
        abis = load_abis(list(self.addresses))
        self.decoder = EventDecoder(
            {address: (name, abis[name]) for name, address in self.addresses.items()}
        )
        self.topics: dict[tuple[str, str], str] = {}
        for name, abi in abis.items():
            for item in abi:
                if item.get("type") == "event":
                    topic = "0x" + event_abi_to_log_topic(dict(item)).hex()
                    self.topics[(name, str(item["name"]))] = topic
        self.max_blocks = max_blocks
        self.target_logs = target_logs

    # ------------------------------------------------------------------ the range, by window

    def chunks(self, start: int, end: int) -> Iterator[Chunk]:
        """Windows covering ``[start, end]`` in order, each fetched only when asked for."""
        window = min(FIRST_WINDOW, self.max_blocks)
        low = start
        while low <= end:
            high = min(low + window - 1, end)
            logs = self._get_logs({"address": sorted(self.addresses.values())}, low, high)
            found, chunk = len(logs), Chunk(low, high, self._decode(logs))
            del logs  # nothing of this window may outlive it while the next one is read
            yield chunk
            del chunk
            window = self._next_window(window, found)
            low = high + 1

    def _next_window(self, window: int, found: int) -> int:
        if found > self.target_logs:
            return max(1, window * self.target_logs // found)
        if found < self.target_logs // 2:
            return min(self.max_blocks, window * 2)
        return window

    # ------------------------------------------------------------------ lookups by id

    def lookup(
        self,
        kinds: Sequence[tuple[str, str]],
        ids: Iterable[str],
        *,
        from_block: int,
        to_block: int,
    ) -> list[ChainEvent]:
        """Events of ``kinds`` (``(contract, event)``) in ``[from_block, to_block]`` whose
        first indexed argument is one of ``ids`` (``0x`` hex words), in chain order."""
        wanted = sorted(set(ids))
        if not wanted or from_block > to_block:
            return []
        topics0 = sorted({self.topics[kind] for kind in kinds})
        addresses = sorted({self.addresses[contract] for contract, _ in kinds})
        found: list[ChainEvent] = []
        for i in range(0, len(wanted), LOOKUP_IDS):
            query = {"address": addresses, "topics": [topics0, wanted[i : i + LOOKUP_IDS]]}
            found.extend(self._decode(self._get_logs(query, from_block, to_block)))
        found.sort(key=lambda e: e.position)
        return found

    # ------------------------------------------------------------------ plumbing

    def _get_logs(self, query: dict[str, Any], low: int, high: int) -> list[dict[str, Any]]:
        """The logs of ``query`` in ``[low, high]``; halves the range if the node refuses it."""
        params = [{**query, "fromBlock": hex(low), "toBlock": hex(high)}]
        try:
            logs = rpc(self.w3, "eth_getLogs", params) or []
        except RpcError:
            if low >= high:
                raise
            middle = (low + high) // 2
            return self._get_logs(query, low, middle) + self._get_logs(query, middle + 1, high)
        return [entry for entry in logs if not entry.get("removed")]

    def _decode(self, logs: list[dict[str, Any]]) -> list[ChainEvent]:
        times = block_times(self.w3, logs)
        events: list[ChainEvent] = []
        for entry in logs:
            event = self.decoder.decode(entry, times[int(entry["blockNumber"], 16)])
            if event is not None:
                events.append(event)
        events.sort(key=lambda e: e.position)
        return events
