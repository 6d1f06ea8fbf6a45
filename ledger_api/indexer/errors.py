"""Errors of the event indexer; every one derives from :class:`IndexerError`."""

from __future__ import annotations

from ledger_api.errors import LedgerApiError


class IndexerError(LedgerApiError):
    """Base class for failures of the event indexer."""


class IndexerConfigError(IndexerError):
    """The deployment names no address for a contract, or a contract has no usable ABI."""


class EventDecodeError(IndexerError):
    """A log carries a known event signature but its topics or data do not decode.

    Raised instead of skipping the log: an index that silently misses an event is exactly
    what an auditor must never be handed.
    """


class ChainBehindError(IndexerError):
    """``run_until`` was asked for a block the chain did not reach in time."""


class ChainMovedError(IndexerError):
    """The chain changed under a pass (a block vanished or was replaced while it was read);
    the next pass notices the rollback and rewinds. Retryable."""
