"""The CDS Hooks 2.0 JSON schemas shipped in ``data/cds_hooks/2.0`` (see its README)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Literal

from jsonschema import Draft202012Validator

from clients.assistant.errors import CdsRequestError
from clients.assistant.loader import data_dir

CDS_HOOKS_VERSION = "2.0"
SchemaName = Literal["discovery", "request", "response", "feedback"]


@cache
def cds_schema(name: SchemaName) -> dict[str, Any]:
    """One of the CDS Hooks 2.0 schemas, checked as a valid JSON schema."""
    path = data_dir() / "cds_hooks" / CDS_HOOKS_VERSION / f"{name}.schema.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(loaded)
    return loaded


def schema_errors(name: SchemaName, data: Any) -> list[str]:
    """Every violation of the schema, as ``path: message`` (empty when valid)."""
    validator = Draft202012Validator(cds_schema(name))
    out = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        out.append(f"{where}: {error.message}")
    return out


def require_valid(name: SchemaName, data: Any) -> None:
    """:class:`CdsRequestError` naming the first violation, if any."""
    errors = schema_errors(name, data)
    if errors:
        raise CdsRequestError(f"not a CDS Hooks {CDS_HOOKS_VERSION} {name}: {errors[0]}")
