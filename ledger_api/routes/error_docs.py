"""OpenAPI documentation of error answers: the one JSON shape and the codes per status.

Every failure is ``{"error": {"code", "message", "details"}}`` (see
:mod:`ledger_api.http_errors`); listing the codes an endpoint can answer, per status, in its
OpenAPI entry is what lets a client author branch on ``code`` without reading our source.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    error: ErrorBody


def error_responses(**by_status: str) -> dict[int | str, dict[str, Any]]:
    """``error_responses(s401="unauthorized", s409="nonce_used")`` → FastAPI ``responses``."""
    return {
        int(status.removeprefix("s")): {"model": ErrorOut, "description": f"error.code: {codes}"}
        for status, codes in by_status.items()
    }
