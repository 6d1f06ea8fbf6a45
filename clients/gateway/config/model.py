"""The typed declarations a gateway folder holds, after schema validation.

Each object keeps the :class:`Located` document it came from, so that checks made after the
schema (references between files, SQL parameters, the flow graph) still name file and line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from clients.gateway.config.yamlload import Located
from clients.gateway.errors import ConnectorError

_ENV = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def expand_env(text: str) -> str:
    """Replace ``${NAME}`` by the environment variable (secrets never live in the YAML)."""

    def one(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise ConnectorError(f"environment variable {match.group(1)} is not set")
        return value

    return _ENV.sub(one, text)


@dataclass(frozen=True)
class TableCapture:
    key: str
    timestamp: str | None = None


@dataclass
class Connection:
    name: str
    type: str
    url: str
    doc: Located
    raw: dict[str, Any]
    tables: dict[str, TableCapture] = field(default_factory=dict)

    @property
    def capture(self) -> dict[str, Any]:
        return dict(self.raw.get("capture") or {})

    def setting(self, name: str, default: Any) -> Any:
        return self.raw.get(name, default)

    def resolved_url(self) -> str:
        return expand_env(self.url)


@dataclass
class Api:
    name: str
    connection: str
    doc: Located
    raw: dict[str, Any]
    params: dict[str, Any]

    @property
    def kind(self) -> str:
        for kind in ("sql", "request", "operation", "publish"):
            if kind in self.raw:
                return kind
        raise AssertionError("schema guarantees one of them")

    @property
    def page_size(self) -> int:
        return int((self.raw.get("page") or {}).get("size", 50))

    @property
    def page_max(self) -> int:
        return int((self.raw.get("page") or {}).get("max", 500))

    @property
    def keys(self) -> list[str]:
        return list(self.raw.get("keys") or [])


@dataclass
class Topic:
    name: str
    connection: str
    subject: str
    doc: Located
    stream: str | None = None


@dataclass
class Mapping:
    name: str
    resource: str
    expression: str
    doc: Located
    patient: str | None = None  # JSONata giving the hospital's patient id
    key: str | None = None  # JSONata giving the source key (default: the capture key)


@dataclass
class Step:
    id: str
    type: str
    raw: dict[str, Any]
    index: int

    @property
    def inputs(self) -> list[str]:
        if "inputs" in self.raw:
            return list(self.raw["inputs"])
        return [self.raw.get("input", "source")]

    @property
    def timeout_s(self) -> float:
        return float(self.raw.get("timeout_s", 10.0))


@dataclass
class Flow:
    name: str
    version: int
    source: dict[str, Any]
    steps: list[Step]
    doc: Located

    @property
    def source_kind(self) -> str:
        return next(iter(self.source))


@dataclass
class GatewaySettings:
    name: str
    institution: str
    source_system: str
    doc: Located
    raw: dict[str, Any]

    @property
    def medledger(self) -> dict[str, Any]:
        return dict(self.raw.get("medledger") or {})

    @property
    def server(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": 8780, **(self.raw.get("server") or {})}

    @property
    def trace_retention_s(self) -> float:
        return float((self.raw.get("traces") or {}).get("retention_hours", 72)) * 3600
