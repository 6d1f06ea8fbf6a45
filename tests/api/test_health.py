"""Liveness, readiness (each part failing on its own), metrics and the request log."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import sqlalchemy as sa

from tests.api.conftest import Stack


def test_healthz_answers_without_auth(api_stack: Stack) -> None:
    response = api_stack.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_every_part_ok(api_stack: Stack) -> None:
    response = api_stack.client.get("/readyz")
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["chain"], report["store"], report["database"]) == ("ok", "ok", "ok")
    assert report["block_number"] >= api_stack.deployment.block_number


def test_readyz_names_the_database_when_it_is_gone(api_stack: Stack) -> None:
    # a real outage: the engine's pool is pointed at a database that no longer answers
    ctx = api_stack.ctx
    healthy = ctx.engine
    ctx.engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        response = api_stack.client.get("/readyz")
    finally:
        ctx.engine.dispose()
        ctx.engine = healthy
    assert response.status_code == 503
    report = response.json()
    assert report["database"].startswith("error: ")
    assert (report["chain"], report["store"], report["status"]) == ("ok", "ok", "unavailable")


def test_readyz_names_the_store_when_its_directory_is_gone(api_stack: Stack) -> None:
    shutil.rmtree(api_stack.settings.blocks_path)
    api_stack.settings.blocks_path.write_bytes(b"not a directory")
    response = api_stack.client.get("/readyz")
    assert response.status_code == 503
    report = response.json()
    assert report["store"].startswith("error: ")
    assert (report["chain"], report["database"]) == ("ok", "ok")


def test_metrics_count_requests_by_route_template_and_status(api_stack: Stack) -> None:
    client = api_stack.client
    client.get("/healthz")
    client.get("/healthz")
    client.get("/auth/me")  # 401
    text = client.get("/metrics").text
    assert 'medledger_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'medledger_http_requests_total{method="GET",route="/auth/me",status="401"} 1.0' in text
    assert "medledger_http_request_duration_seconds_bucket" in text
    assert "# TYPE medledger_chain_tx_sent_total counter" in text
    assert "# TYPE medledger_access_decisions_total counter" in text


def test_metrics_helpers_show_up_in_the_exposition(api_stack: Stack) -> None:
    metrics = api_stack.ctx.metrics
    metrics.chain_tx_sent("access_log", 3)
    metrics.access_decision(granted=False, reason=10)
    text = api_stack.client.get("/metrics").text
    assert 'medledger_chain_tx_sent_total{kind="access_log"} 3.0' in text
    assert 'medledger_access_decisions_total{outcome="denied",reason="10"} 1.0' in text


def test_one_json_log_line_per_request_with_caller_and_request_id(
    api_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    headers = api_stack.login(api_stack.cardiologist)
    with caplog.at_level(logging.INFO, logger="ledger_api.access"):
        response = api_stack.client.get("/auth/me", headers={**headers, "X-Request-ID": "req-42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"
    lines = [
        r
        for r in caplog.records
        if r.name == "ledger_api.access" and getattr(r, "path", None) == "/auth/me"
    ]
    assert len(lines) == 1
    record = lines[0]
    formatted = json.loads(api_stack_formatter().format(record))
    assert formatted["method"] == "GET"
    assert formatted["path"] == "/auth/me"
    assert formatted["route"] == "/auth/me"
    assert formatted["status"] == 200
    assert formatted["caller"] == api_stack.cardiologist.address
    assert formatted["request_id"] == "req-42"
    assert formatted["ms"] >= 0


def api_stack_formatter() -> logging.Formatter:
    from ledger_api.log import JsonFormatter

    return JsonFormatter()
