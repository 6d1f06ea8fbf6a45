"""The gateway's OpenAPI 3.1 description, built from the declarations.

Each atomic API becomes ``/apis/{name}`` with its parameters (GET: query parameters from the
declared JSON Schema's properties; POST: the schema itself as the JSON body), the paging
parameters and the ``X-Api-Key`` security scheme; each flow with an ``api`` source becomes
``POST /flows/{name}``. An application developer at the hospital reads this, not our code.
"""

from __future__ import annotations

from typing import Any

from clients.gateway.config.project import Project

PAGE_SCHEMA = {
    "type": "object",
    "required": ["items", "offset", "limit"],
    "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "offset": {"type": "integer"},
        "limit": {"type": "integer"},
        "next_offset": {"type": ["integer", "null"]},
    },
}
ERROR = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
}


def _errors() -> dict[str, Any]:
    out = {}
    for status, text in [
        ("401", "no access key"),
        ("403", "access key refused"),
        ("422", "invalid parameters"),
        ("502", "the hospital system failed"),
        ("503", "circuit open"),
    ]:
        out[status] = {"description": text, "content": {"application/json": {"schema": ERROR}}}
    return out


def openapi_document(project: Project) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for name, api in sorted(project.apis.items()):
        props = api.params.get("properties") or {}
        required = set(api.params.get("required") or [])
        query = [
            {"name": p, "in": "query", "required": p in required, "schema": schema}
            for p, schema in props.items()
        ] + [
            {"name": "_offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {
                "name": "_limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": api.page_max},
            },
        ]
        ok = {
            "200": {
                "description": "a page of results",
                "content": {"application/json": {"schema": PAGE_SCHEMA}},
            },
            **_errors(),
        }
        common = {
            "summary": api.raw.get("description", name),
            "security": [{"apiKey": []}],
            "tags": ["atomic APIs"],
        }
        paths[f"/apis/{name}"] = {
            "get": {**common, "operationId": f"get_{name}", "parameters": query, "responses": ok},
            "post": {
                **common,
                "operationId": f"post_{name}",
                "parameters": query[-2:],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": api.params}},
                },
                "responses": ok,
            },
        }
    for name, flow in sorted(project.flows.items()):
        if "api" not in flow.source:
            continue
        spec = flow.source["api"]
        paths[f"/flows/{name}"] = {
            "post": {
                "summary": flow.doc.data.get("description", name),
                "operationId": f"flow_{name}",
                "tags": ["flow APIs"],
                "security": [{"apiKey": []}],
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {"type": "string", "maxLength": 128},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": spec.get("params") or {"type": "object"}}
                    },
                },
                "responses": {"200": {"description": "the run's output"}, **_errors()},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Gateway {project.settings.name} ({project.settings.institution})",
            "version": project.digest[:18],
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}
        },
    }
