"""Atomic APIs: each declared query, wrapped service call or topic producer, callable by name.

Parameters are validated against the API's JSON Schema before anything runs (a value of the
wrong type or an unknown parameter is refused with its name); SQL runs with bound parameters
and the paging parameters ``_limit``/``_offset`` bound by the gateway (``page.size`` by
default, never above ``page.max``); HTTP and SOAP calls go through their service clients with
timeouts, retries and a circuit breaker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from clients.gateway.config.model import Api
from clients.gateway.config.project import Project
from clients.gateway.connectors.sql import run_query
from clients.gateway.errors import GatewayError
from clients.gateway.topics.base import TopicHub


class ParameterError(GatewayError):
    """Parameters that do not match the API's declared JSON Schema."""


@dataclass
class Page:
    items: list[Any]
    offset: int
    limit: int


class AtomicApis:
    def __init__(self, project: Project, *, topics: TopicHub | None = None) -> None:
        self.project = project
        self.topics = topics
        self._validators = {
            name: Draft202012Validator(api.params, format_checker=FormatChecker())
            for name, api in project.apis.items()
        }
        self._services: dict[str, Any] = {}

    def api(self, name: str) -> Api:
        api = self.project.apis.get(name)
        if api is None:
            raise ParameterError(f"no atomic API named {name!r}")
        return api

    def check(self, name: str, params: dict[str, Any]) -> None:
        error = best_match(self._validators[name].iter_errors(params))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "(parameters)"
            raise ParameterError(f"{name}: {where}: {error.message}")

    def call(
        self, name: str, params: dict[str, Any], *, offset: int = 0, limit: int | None = None
    ) -> Page:
        api = self.api(name)
        self.check(name, params)
        size = api.page_size if limit is None else limit
        if size < 1 or size > api.page_max or offset < 0:
            raise ParameterError(f"{name}: limit must be 1 to {api.page_max}, offset >= 0")
        conn = self.project.connections[api.connection]
        if api.kind == "sql":
            bound = {**params, "_limit": size, "_offset": offset}
            declared = set((api.params.get("properties") or {}).keys())
            for missing in declared - set(params):
                bound.setdefault(missing, None)
            rows = run_query(
                conn.resolved_url(),
                api.raw["sql"],
                bound,
                read_only=bool(conn.setting("read_only", True)),
                timeout_s=float(conn.setting("timeout_s", 30.0)),
            )
            return Page(rows, offset, size)
        if api.kind == "request":
            result = self._service(conn.name, "http").request(
                api.raw["request"]["method"], api.raw["request"]["path"], params
            )
            items = result if isinstance(result, list) else [result]
            return Page(items[offset : offset + size], offset, size)
        if api.kind == "operation":
            result = self._service(conn.name, "soap").call(api.raw["operation"], params)
            items = result if isinstance(result, list) else [result]
            return Page(items[offset : offset + size], offset, size)
        if self.topics is None:
            raise GatewayError(f"{name}: topics are not connected")
        self.topics.publish(api.raw["publish"], params)
        return Page([{"published": True}], 0, 1)

    def rows(self, name: str, params: dict[str, Any]) -> list[Any]:
        """For flow steps: the first page."""
        return self.call(name, params).items

    def _service(self, connection: str, kind: str) -> Any:
        service = self._services.get(connection)
        if service is None:
            conn = self.project.connections[connection]
            if kind == "http":
                from clients.gateway.services.http import HttpService

                service = HttpService(conn)
            else:
                from clients.gateway.services.soap import SoapService

                service = SoapService(conn)
            self._services[connection] = service
        return service

    def breaker_states(self) -> dict[str, str]:
        return {name: s.breaker.state for name, s in self._services.items()}
