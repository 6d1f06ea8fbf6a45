"""Prometheus metrics, one registry per app (several apps live in one test process).

Services count through the helpers here (``ctx.metrics.chain_tx_sent("register")``) rather
than creating their own collectors, so every metric is declared once with its labels and the
label sets stay small (route templates, never raw paths with ids in them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from web3 import Web3

import contracts
from crypto.addresses import to_checksum_address

__all__ = ["CONTENT_TYPE_LATEST", "ChainTxMeter", "Metrics"]

log = logging.getLogger("ledger_api.metrics")


class Metrics:
    """The app's collectors; every public method is a one-line, thread-safe increment."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "medledger_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "medledger_http_request_duration_seconds",
            "HTTP request latency (until the last body byte) by method and route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.chain_txs = Counter(
            "medledger_chain_tx_sent_total",
            "Transactions sent by the relayer, by kind (register, consent, access_log, ...)",
            ["kind"],
            registry=self.registry,
        )
        self.access_decisions = Counter(
            "medledger_access_decisions_total",
            "Record read decisions by outcome and reason",
            ["outcome", "reason"],
            registry=self.registry,
        )
        self.logins = Counter(
            "medledger_logins_total",
            "SIWE login attempts by result (ok or the 401 code)",
            ["result"],
            registry=self.registry,
        )

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def chain_tx_sent(self, kind: str, count: int = 1) -> None:
        self.chain_txs.labels(kind).inc(count)

    def access_decision(self, *, granted: bool, reason: str | int) -> None:
        self.access_decisions.labels("granted" if granted else "denied", str(reason)).inc()

    def login(self, result: str) -> None:
        self.logins.labels(result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ChainTxMeter:
    """Counts what the relayer sends, read from the calldata itself.

    Every write goes through the relayer, so counting there cannot miss one, whichever
    service sent it. ``kind`` is ``Contract.function``; access-log writes are also counted as
    decisions (``granted``/``denied`` by reason code), at the moment they become durable.
    """

    def __init__(self, metrics: Metrics, w3: Web3, addresses: Mapping[str, str]) -> None:
        self.metrics = metrics
        self._contracts = {
            to_checksum_address(address): w3.eth.contract(
                address=to_checksum_address(address), abi=contracts.load(name)["abi"]
            )
            for name, address in addresses.items()
        }
        self._names = {to_checksum_address(a): n for n, a in addresses.items()}

    def observe(self, *, to: str, data: bytes) -> None:
        """Count one sent transaction; never raises (metrics must not fail a request)."""
        try:
            self._observe(to_checksum_address(to), bytes(data))
        except Exception:  # an unknown contract or selector: count it, don't fail the send
            log.debug("cannot classify a transaction to %s", to, exc_info=True)
            self.metrics.chain_tx_sent("unknown")

    def _observe(self, to: str, data: bytes) -> None:
        contract = self._contracts.get(to)
        if contract is None:
            self.metrics.chain_tx_sent("unknown")
            return
        function, args = contract.decode_function_input(data)
        self.metrics.chain_tx_sent(f"{self._names[to]}.{function.fn_name}")
        if function.fn_name == "logAccess":
            self._decision(*_granted_reason(args["entry"]))
        elif function.fn_name == "logAccessBatch":
            for entry in args["entries"]:
                self._decision(*_granted_reason(entry))

    def _decision(self, granted: Any, reason: Any) -> None:
        self.metrics.access_decision(granted=bool(granted), reason=int(reason))


def _granted_reason(entry: Any) -> tuple[bool, int]:
    """Granted flag and reason code of one packed ``AccessEntry`` (``access`` word: accessor
    | part << 160 | purpose << 168 | granted << 176 | reasonCode << 184; see
    :meth:`ledger_api.chain.access_log.AccessEntry.as_tuple`)."""
    access = int(entry["access"] if isinstance(entry, Mapping) else entry[2])
    return bool((access >> 176) & 1), (access >> 184) & 0xFFFF
