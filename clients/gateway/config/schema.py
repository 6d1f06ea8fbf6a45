"""JSON Schema validation of declarations, with errors that name file, line and field.

Each ``kind`` of YAML file has a schema under ``clients/gateway/schemas`` (also usable by an
editor). Validation stops at the first error, chosen by ``jsonschema.exceptions.best_match``
and made precise: an unknown field is reported at its own line, by its own name.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry, Resource

from clients.gateway.config.yamlload import Located
from clients.gateway.errors import ConfigError

KINDS = {
    "Gateway": "gateway.json",
    "Connection": "connection.json",
    "Api": "api.json",
    "Topic": "topic.json",
    "Mapping": "mapping.json",
    "Flow": "flow.json",
}
BASE = "https://medledger.example/gateway/"


def _schema_text(name: str) -> dict[str, Any]:
    return json.loads(
        resources.files("clients.gateway").joinpath("schemas").joinpath(name).read_text()
    )


@cache
def _validator(kind: str) -> Draft202012Validator:
    registry: Registry = Registry()
    for name in [*KINDS.values(), "common.json"]:
        registry = registry.with_resource(BASE + name, Resource.from_contents(_schema_text(name)))
    return Draft202012Validator(_schema_text(KINDS[kind]), registry=registry)


def schema_of(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind (for ``gateway schema`` and the docs)."""
    return _schema_text(KINDS[kind])


def validate(doc: Located) -> str:
    """Check ``doc`` against the schema of its ``kind``; returns the kind."""
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a declaration is a mapping with a 'kind'")
    kind = data.get("kind")
    if kind not in KINDS:
        raise doc.error(("kind",), f"must be one of {', '.join(sorted(KINDS))}, not {kind!r}")
    error = best_match(_validator(kind).iter_errors(data), key=_relevance)
    if error is not None:
        raise _precise(doc, error)
    return str(kind)


def check_parameter_schema(doc: Located, path: tuple[str | int, ...], schema: Any) -> None:
    """A ``params`` value must itself be a JSON Schema of an object."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise doc.error(path, "must be a JSON Schema with type: object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = (*path, *exc.absolute_path)
        raise doc.error(where, f"not a valid JSON Schema: {exc.message}") from None


def _relevance(error: ValidationError) -> tuple[int, int]:
    """Deeper errors first, and 'unknown field' before the ``if/then`` noise around it."""
    return (-len(error.absolute_path), 0 if error.validator == "additionalProperties" else 1)


def _precise(doc: Located, error: ValidationError) -> ConfigError:
    path = tuple(error.absolute_path)
    for sub in _leaves(error):
        if sub.validator == "additionalProperties" and isinstance(sub.instance, dict):
            allowed = set(sub.schema.get("properties", {}))
            extra = sorted(k for k in sub.instance if k not in allowed)
            if extra:
                where = (*tuple(sub.absolute_path), extra[0])
                return doc.error(where, f"unknown field (allowed: {', '.join(sorted(allowed))})")
    if error.validator == "required":
        return doc.error(path, error.message)
    return doc.error(path, error.message)


def _leaves(error: ValidationError) -> list[ValidationError]:
    out = [error]
    for sub in error.context or ():
        out.extend(_leaves(sub))
    return out
