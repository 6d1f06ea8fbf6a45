"""Errors of the marketplace package."""

from __future__ import annotations

from typing import Any

from ledger_api.errors import LedgerApiError


class ManifestInvalidError(LedgerApiError):
    """A manifest that does not follow the schema; ``field`` names where (``scopes[1].scope``)."""

    def __init__(self, message: str, *, code: str, field: str, errors: list[dict[str, Any]]):
        super().__init__(message)
        self.code = code
        self.field = field
        self.errors = errors
