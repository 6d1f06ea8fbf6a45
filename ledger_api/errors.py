"""Base exception of the ``ledger_api`` package (web3.py style: one root, specific subclasses)."""


class LedgerApiError(Exception):
    """Root of every error raised by ``ledger_api``."""
