"""Errors of the chain layer; every one derives from :class:`ChainError`."""

from ledger_api.errors import LedgerApiError


class ChainError(LedgerApiError):
    """Base class for failures talking to the chain."""


class NodeError(ChainError):
    """The local node (anvil) cannot be found, started or reached."""
