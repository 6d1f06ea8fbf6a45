"""Third-party HTTP services through the gateway: timeouts, retries with backoff, and the
circuit breaker (a failing service opens it; recovery closes it), against a real local
HTTP server that fails on command."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clients.gateway.config.project import load_project
from clients.gateway.connectors.atomic import AtomicApis
from clients.gateway.errors import CircuitOpenError, UpstreamError
from clients.gateway.sample.project import write_sample
from clients.gateway.services.breaker import CircuitBreaker


class Upstream:
    """A tiny insurance-eligibility service (医保资格查询) that can be told to fail or hang."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.calls += 1
                if upstream.mode == "fail":
                    self.send_response(503)
                    self.end_headers()
                    return
                if upstream.mode == "hang":
                    time.sleep(1.0)
                body = json.dumps({"insured": True, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    service = Upstream()
    yield service
    service.close()


def project_with(tmp_path: Path, url: str) -> AtomicApis:
    root = write_sample(tmp_path / "gw")
    (root / "connections" / "insurance.yaml").write_text(
        f"""kind: Connection
version: 1
name: insurance
type: http
url: {url}
timeout_s: 0.3
retries: 2
backoff_s: 0.01
breaker: {{failures: 3, reset_s: 0.5}}
"""
    )
    (root / "apis" / "eligibility.yaml").write_text(
        """kind: Api
version: 1
name: eligibility
connection: insurance
params: {type: object, required: [id_card], properties: {id_card: {type: string, maxLength: 18}}}
request: {method: GET, path: /eligibility}
keys: [his]
"""
    )
    return AtomicApis(load_project(root))


def test_retries_then_breaker_opens_and_recovery_closes_it(
    tmp_path: Path, upstream: Upstream
) -> None:
    apis = project_with(tmp_path, upstream.url)
    params = {"id_card": "510131196901190743"}
    assert apis.call("eligibility", params).items[0]["insured"] is True
    upstream.mode = "fail"
    with pytest.raises(UpstreamError, match=r"503.*after 3 attempts"):
        apis.call("eligibility", params)  # 3 failures: the breaker opens
    assert upstream.calls == 1 + 3
    assert apis.breaker_states() == {"insurance": "open"}
    started = time.monotonic()
    with pytest.raises(CircuitOpenError):
        apis.call("eligibility", params)
    assert time.monotonic() - started < 0.05
    assert upstream.calls == 4
    upstream.mode = "ok"
    time.sleep(0.55)
    assert apis.breaker_states() == {"insurance": "half-open"}
    assert apis.call("eligibility", params).items[0]["insured"] is True  # the probe
    assert apis.breaker_states() == {"insurance": "closed"}


def test_timeout_is_retried_and_reported(tmp_path: Path, upstream: Upstream) -> None:
    apis = project_with(tmp_path, upstream.url)
    upstream.mode = "hang"
    started = time.monotonic()
    with pytest.raises(UpstreamError, match="timed out"):
        apis.call("eligibility", {"id_card": "x"})
    assert time.monotonic() - started < 3.0


def test_bad_parameters_never_reach_the_service(tmp_path: Path, upstream: Upstream) -> None:
    apis = project_with(tmp_path, upstream.url)
    with pytest.raises(Exception, match="id_card"):
        apis.call("eligibility", {"id_card": "x" * 40})
    assert upstream.calls == 0


def test_breaker_half_open_admits_one_probe() -> None:
    now = [0.0]
    breaker = CircuitBreaker("svc", failures=2, reset_s=10, clock=lambda: now[0])

    def boom() -> None:
        raise RuntimeError("down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            breaker.call(boom)
    assert breaker.state == "open"
    now[0] = 10.0
    with pytest.raises(RuntimeError):
        breaker.call(boom)  # the probe fails: open again for another 10 s
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: 1)
    now[0] = 20.0
    assert breaker.call(lambda: 1) == 1
    assert breaker.state == "closed"
