"""HTTP-facing errors: one JSON shape, a stable ``code`` per failure.

Services raise these (never return ad-hoc dicts) so that every route answers a failure the
same way: ``{"error": {"code": ..., "message": ..., "details": ...}}``. Clients and tests
branch on ``code``, which never changes once published; ``message`` is for humans and may.
Unexpected exceptions become a 500 ``internal`` without a traceback: stack traces leak paths,
SQL and sometimes data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger_api.chain.errors import ChainConnectionError, ReceiptTimeoutError
from ledger_api.errors import LedgerApiError
from storage.errors import DatabaseUnavailableError, KuboUnavailableError

log = logging.getLogger("ledger_api.errors")


class ApiError(LedgerApiError):
    """An error with an HTTP status and a stable machine-readable ``code``."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details: dict[str, Any] = dict(details or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class BadRequestError(ApiError):
    status_code = 400
    code = "bad_request"


class BadSignatureError(ApiError):
    status_code = 400
    code = "bad_signature"


class UnauthorizedError(ApiError):
    status_code = 401
    code = "unauthorized"


class ForbiddenError(ApiError):
    status_code = 403
    code = "forbidden"


class NotFoundError(ApiError):
    status_code = 404
    code = "not_found"


class ConflictError(ApiError):
    status_code = 409
    code = "conflict"


class PayloadTooLargeError(ApiError):
    status_code = 413
    code = "payload_too_large"


class UnprocessableError(ApiError):
    status_code = 422
    code = "invalid_input"


class UnsupportedMediaTypeError(ApiError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimitedError(ApiError):
    """429: a rate limit or quota window is full; ``retry_after`` seconds until it frees."""

    status_code = 429
    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailableError(ApiError):
    status_code = 503
    code = "unavailable"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(jsonable_encoder(exc.body()), status_code=exc.status_code, headers=headers)


# a validation answer lists at most this many errors, each location part and message cut to a
# short prefix: pydantic's locations carry the input's own keys (an unknown 1 MiB key would
# otherwise come back whole), and one error per item of a long list adds up
MAX_LISTED_ERRORS = 20
_PART_LIMIT = 64
_MSG_LIMIT = 200


def _short(part: Any, limit: int) -> Any:
    if isinstance(part, str) and len(part) > limit:
        return part[:limit] + "…"
    return part


def brief_errors(found: Sequence[Any]) -> dict[str, Any]:
    """Pydantic's errors as ``details``: at most :data:`MAX_LISTED_ERRORS`, each cut short,
    never the input itself."""
    errors = [
        {
            "loc": [_short(part, _PART_LIMIT) for part in e.get("loc", ())],
            "msg": _short(str(e.get("msg", "")), _MSG_LIMIT),
            "type": e.get("type"),
        }
        for e in found[:MAX_LISTED_ERRORS]
    ]
    details: dict[str, Any] = {"errors": errors}
    if len(found) > MAX_LISTED_ERRORS:
        details["more_errors"] = len(found) - MAX_LISTED_ERRORS
    return details


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = brief_errors(exc.errors())
    return JSONResponse(
        error_body("invalid_request", "the request does not match the schema", details),
        status_code=422,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    # Starlette's own 404/405 for unknown paths and methods, in our shape.
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


# infrastructure outages: a 503 the client may retry, not a 500 that reads like our bug
_OUTAGES: tuple[tuple[type[Exception], str, str], ...] = (
    (OperationalError, "database_unavailable", "the index database is unavailable"),
    (DatabaseUnavailableError, "database_unavailable", "the index database is unavailable"),
    (ChainConnectionError, "chain_unavailable", "the chain node is unreachable"),
    (ReceiptTimeoutError, "chain_unavailable", "the chain did not mine the transaction in time"),
    (KuboUnavailableError, "store_unavailable", "the block store is unreachable"),
)


async def _outage(request: Request, exc: Exception) -> JSONResponse:
    for cls, code, message in _OUTAGES:
        if isinstance(exc, cls):
            log.warning("%s on %s %s: %s", code, request.method, request.url.path, exc)
            return JSONResponse(
                error_body(code, message), status_code=503, headers={"Retry-After": "5"}
            )
    return await _unexpected(request, exc)  # pragma: no cover - registered per class above


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal", "internal server error"), status_code=500)


def install_handlers(app: FastAPI) -> None:
    """Render every failure in the one JSON shape (see the module docstring)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for cls, _code, _message in _OUTAGES:
        app.add_exception_handler(cls, _outage)
    app.add_exception_handler(Exception, _unexpected)


__all__ = [
    "ApiError",
    "BadRequestError",
    "BadSignatureError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "UnprocessableError",
    "UnsupportedMediaTypeError",
    "brief_errors",
    "error_body",
    "install_handlers",
]
