"""Third-party SOAP web services through ``zeep``, with the same timeout, retry and circuit
breaker rules as HTTP (:mod:`clients.gateway.services.http`).

The WSDL is loaded once (from the connection's ``wsdl``: a URL or a local file); operations are
called by name with the atomic API's parameters as keyword arguments, and the answer is turned
into plain JSON data (``zeep.helpers.serialize_object``). A SOAP fault is not retried: it is
the service's answer.
"""

from __future__ import annotations

from typing import Any

from clients.gateway.config.model import Connection
from clients.gateway.connectors.sql import jsonable
from clients.gateway.errors import UpstreamError
from clients.gateway.services.breaker import CircuitBreaker, RetryableError, call_with_retries


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return jsonable(value)


class SoapService:
    def __init__(self, connection: Connection) -> None:
        import zeep
        from zeep.transports import Transport

        self.name = connection.name
        self.timeout = float(connection.setting("timeout_s", 10.0))
        self.retries = int(connection.setting("retries", 2))
        self.backoff = float(connection.setting("backoff_s", 0.2))
        breaker = connection.setting("breaker", {}) or {}
        self.breaker = CircuitBreaker(
            connection.name,
            failures=int(breaker.get("failures", 5)),
            reset_s=float(breaker.get("reset_s", 30.0)),
        )
        wsdl = connection.raw.get("wsdl") or connection.resolved_url() + "?wsdl"
        try:
            transport = Transport(timeout=self.timeout, operation_timeout=self.timeout)
            self.client = zeep.Client(wsdl, transport=transport)
        except Exception as exc:  # zeep raises requests', lxml's and its own errors
            raise UpstreamError(f"{self.name}: cannot load the WSDL {wsdl}: {exc}") from None
        address = connection.resolved_url()
        binding = next(iter(self.client.wsdl.bindings))
        self.service = self.client.create_service(binding, address)

    def call(self, operation: str, params: dict[str, Any]) -> Any:
        return call_with_retries(
            self.name,
            self.breaker,
            lambda: self._once(operation, params),
            retries=self.retries,
            backoff_s=self.backoff,
        )

    def _once(self, operation: str, params: dict[str, Any]) -> Any:
        import requests
        import zeep.exceptions
        from zeep.helpers import serialize_object

        try:
            method = getattr(self.service, operation)
        except AttributeError:
            raise UpstreamError(f"{self.name}: the WSDL has no operation {operation!r}") from None
        try:
            return _plain(serialize_object(method(**params), dict))
        except zeep.exceptions.Fault as fault:
            raise UpstreamError(f"{self.name}: SOAP fault: {fault.message}") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise RetryableError(f"{operation}: {type(exc).__name__}") from None
        except zeep.exceptions.TransportError as exc:
            if exc.status_code >= 500 or exc.status_code == 429:
                raise RetryableError(f"{operation}: HTTP {exc.status_code}") from None
            raise UpstreamError(f"{self.name}: {operation}: HTTP {exc.status_code}") from None
        except (zeep.exceptions.Error, TypeError, ValueError) as exc:
            raise UpstreamError(f"{self.name}: {operation}: {exc}") from None
