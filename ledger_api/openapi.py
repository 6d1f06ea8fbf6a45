"""The OpenAPI document, completed: every status a route can answer, in the one error shape.

FastAPI documents what a route declares. Some answers come from what a route *depends on*:
a 401 from the bearer token, a 429 from the rate limiter, a 503 from the context (database,
chain, store outages), a 413 or a 400 from the body limit (:mod:`ledger_api.body_limit`), a
415 from a multipart upload, a 422 from validation. Declaring those by hand on 45 routes is
how they went missing (a schemathesis run found 401s, 400s and 415s nobody had listed). Here
they are derived from each route's dependency tree and body, once, when the document is
built; every error answer gets the :class:`~ledger_api.routes.error_docs.ErrorOut` schema
(FastAPI's own ``HTTPValidationError`` is not what this API answers). The EIP-712 types a
wallet signs (:mod:`ledger_api.eip712`) are published in the description and under
``x-eip712``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from ledger_api import deps
from ledger_api.eip712 import type_sets
from ledger_api.routes.error_docs import ErrorOut

__all__ = ["GENERIC", "install_openapi"]

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
# routes that answer another error form keep their schema: the SMART/OAuth endpoints answer
# RFC 6749's {"error": "<code>", "error_description"} (ledger_api.routes.smart)
OWN_ERROR_SCHEMAS = ("#/components/schemas/SmartErrorOut",)

# status → the codes any route of that kind may answer (besides its own)
GENERIC: dict[int, str] = {
    400: "invalid_json, bad_content_length",
    401: "unauthorized, bad_authorization, session_invalid, session_expired",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited (Retry-After: seconds; the limit in details)",
    503: "database_unavailable, chain_unavailable, store_unavailable (Retry-After)",
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _api_routes(routes: list[Any]) -> Iterator[Any]:
    """The API routes (or, on FastAPI versions with route contexts, their contexts: the same
    ``path_format``, ``methods``, ``dependant`` and ``include_in_schema``)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        yield from (r for r in routes if isinstance(r, APIRoute))
        return
    for context in iterate(routes):
        if isinstance(getattr(context, "original_route", None), APIRoute):
            yield context


def _statuses(route: Any, operation: dict[str, Any]) -> set[int]:
    """The statuses a route answers because of what it depends on and what it receives."""
    calls = set(_calls(route.dependant))
    found: set[int] = set()
    if deps.bearer_token in calls:
        found.add(401)
    if deps.get_context in calls:
        found.add(503)
    if deps.client_ip in calls or deps.get_limiter in calls:
        found.add(429)
    content = operation.get("requestBody", {}).get("content", {})
    if content:
        found.add(413)
    if "application/json" in content:
        found.add(400)
    if "multipart/form-data" in content:
        found |= {413, 415}
    if operation.get("parameters") or content:
        found.add(422)
    return found


def _error_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    response = dict(existing or {})
    description = response.get("description") or ""
    if not description or description in ("Validation Error", "Successful Response"):
        description = f"error.code: {GENERIC.get(status, 'see the message')}"
    response["description"] = description
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if schema.get("$ref") not in OWN_ERROR_SCHEMAS:
        response["content"] = {"application/json": {"schema": ERROR_REF}}
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds until a retry may succeed.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


def complete(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Add the derived statuses to every operation and the error schema to every error."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorOut,):
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in generated.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault(model.__name__, generated)
    for route in _api_routes(routes):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in _statuses(route, operation):
                responses.setdefault(str(status), {})
            for key, response in list(responses.items()):
                if key.isdigit() and int(key) >= 400:
                    responses[key] = _error_response(int(key), response)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def eip712_description() -> str:
    """The EIP-712 types and domains as Markdown (chain id and contracts: ``GET /chain``)."""
    lines = [
        "## Signing (EIP-712)",
        "",
        "Consents, revocations and co-signatures are EIP-712 typed data. Each domain's "
        "`chainId` and `verifyingContract` are in `GET /chain` (`eip712`); the types are:",
        "",
    ]
    for found in type_sets():
        lines += [
            f"### {found.domain_name} (version {found.domain_version})",
            "",
            "```json",
            json.dumps(found.as_dict()["types"], indent=2),
            "```",
            "",
        ]
    return "\n".join(lines)


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the completed document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=(app.description + "\n\n" if app.description else "")
                + eip712_description(),
                routes=app.routes,
            )
            schema["info"]["x-eip712"] = [found.as_dict() for found in type_sets()]
            app.openapi_schema = complete(schema, app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
