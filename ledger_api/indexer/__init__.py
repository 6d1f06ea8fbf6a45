"""Event indexer: mirrors the MedLedger contracts' events into the relational index."""

from ledger_api.indexer.decode import ChainEvent, EventDecoder, EventSpec
from ledger_api.indexer.errors import (
    ChainBehindError,
    EventDecodeError,
    IndexerConfigError,
    IndexerError,
)
from ledger_api.indexer.runner import (
    DEFAULT_BATCH_BLOCKS,
    Indexer,
    RangeResult,
    block_times,
    contract_addresses,
    deployment_start_block,
    load_abis,
)

__all__ = [
    "DEFAULT_BATCH_BLOCKS",
    "ChainBehindError",
    "ChainEvent",
    "EventDecodeError",
    "EventDecoder",
    "EventSpec",
    "Indexer",
    "IndexerConfigError",
    "IndexerError",
    "RangeResult",
    "block_times",
    "contract_addresses",
    "deployment_start_block",
    "load_abis",
]
