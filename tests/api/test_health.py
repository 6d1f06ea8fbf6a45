"""Liveness, readiness (each part failing on its own), metrics and the request log."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from eth_account import Account
from fastapi.testclient import TestClient
from web3 import Web3

from ledger_api.app import create_app
from ledger_api.chain.anvil import free_port
from ledger_api.chain.client import ChainClient
from ledger_api.chain.consortium import Role
from ledger_api.chain.errors import DeploymentError
from ledger_api.config import Settings
from storage.models import Member
from tests.api.conftest import RELAYER_KEY, Stack


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
    assert report["indexer"] == "ok"


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


def test_metrics_count_relayed_transactions_and_access_decisions(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "role:doctor", b"{}")
    shared = stack.upload(
        stack.patient, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert shared.status_code == 201, shared.text
    path = f"/records/0x{record_id.hex()}/header"
    assert stack.client.get(path, headers=stack.login(stack.patient)).status_code == 200
    assert stack.client.get(path, headers=stack.login(stack.gp)).status_code == 403
    assert stack.client.get(path, headers=stack.login(stack.gp)).status_code == 403
    text = stack.client.get("/metrics").text
    assert 'medledger_chain_tx_sent_total{kind="RecordRegistry.register"} 1.0' in text
    logged = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('medledger_chain_tx_sent_total{kind="AccessLog.logAccess')
    )
    assert logged >= 1  # one per decision, or fewer when batched
    assert 'medledger_access_decisions_total{outcome="granted",reason="0"} 1.0' in text
    assert 'medledger_access_decisions_total{outcome="denied",reason="10"} 2.0' in text


def test_app_configured_from_the_environment_alone(
    api_stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``create_app()`` with no arguments reads every setting from ``MEDLEDGER_*``."""
    settings = api_stack.settings
    env = {
        "MEDLEDGER_RPC_URL": settings.rpc_url,
        "MEDLEDGER_DEPLOYMENT_FILE": str(settings.deployment_file),
        "MEDLEDGER_DATA_DIR": str(tmp_path / "env-data"),
        "MEDLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}",
        "MEDLEDGER_RELAYER_KEY": RELAYER_KEY,
        "MEDLEDGER_INDEXER_ENABLED": "false",
        "MEDLEDGER_SESSION_TTL_SECONDS": "60",
        "MEDLEDGER_LOG_JSON": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from_env = Settings()  # type: ignore[call-arg]
    assert from_env.session_ttl_seconds == 60
    assert from_env.blocks_path == tmp_path / "env-data" / "blocks"
    assert RELAYER_KEY not in repr(from_env)  # secrets never show in logs
    with TestClient(create_app()) as client:
        report = client.get("/readyz").json()
        assert (report["status"], report["indexer"]) == ("ok", "disabled")
        ctx = client.app.state.ctx  # type: ignore[attr-defined]
        assert not hasattr(ctx, "authority")  # the API holds no key authority at all
        assert ctx.background == []  # indexer disabled
        assert client.get("/keys/public").status_code == 404


def test_start_up_refuses_a_missing_deployment(api_stack: Stack, tmp_path: Path) -> None:
    settings = api_stack.settings.model_copy(update={"deployment_file": tmp_path / "nowhere.json"})
    with (
        pytest.raises(DeploymentError, match="no deployment file"),
        TestClient(create_app(settings)),
    ):
        pass


def test_indexer_thread_follows_the_chain_and_stops_with_the_app(api_stack: Stack) -> None:
    stack = api_stack
    nurse = Account.create()
    stack.admin_consortium.enrol_member(
        account=nurse.address, institution_id=stack.qyqchc, role=Role.NURSE, attributes=[]
    ).wait()
    stack.wait_indexed()
    with stack.ctx.sessions() as db:
        member = db.get(Member, nurse.address.lower())
    assert member is not None
    assert member.role == "nurse"
    threads = list(stack.ctx.background)
    # the indexer only: the API advances no epoch (Consortium does, per institution)
    assert [t.name for t in threads] == ["medledger-indexer"]
    assert all(t.is_alive() for t in threads)
    stack.client.__exit__(None, None, None)
    assert not any(t.is_alive() for t in threads)
    stack.client.__enter__()  # the fixture's teardown closes it again


def test_readyz_names_the_chain_when_the_node_is_unreachable(api_stack: Stack) -> None:
    ctx = api_stack.ctx
    healthy = ctx.chain
    dead = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}", request_kwargs={"timeout": 2}))
    ctx.chain = ChainClient.bind(dead, deployment=healthy.deployment, relayer=healthy.relayer)
    try:
        response = api_stack.client.get("/readyz")
    finally:
        ctx.chain = healthy
    assert response.status_code == 503
    report = response.json()
    assert report["chain"].startswith("error: ")
    assert (report["store"], report["database"]) == ("ok", "ok")


def test_readyz_names_a_contract_missing_from_the_chain(api_stack: Stack) -> None:
    ctx = api_stack.ctx
    healthy = ctx.chain
    contracts = healthy.deployment.addresses()
    contracts["AccessLog"] = Account.create().address  # an address with no code
    wrong = dataclasses.replace(healthy.deployment, contracts=contracts)
    ctx.chain = dataclasses.replace(healthy, deployment=wrong)
    try:
        response = api_stack.client.get("/readyz")
    finally:
        ctx.chain = healthy
    assert response.status_code == 503
    assert response.json()["chain"] == "error: no code for AccessLog"


def test_readyz_tells_when_the_indexer_has_stopped(api_stack: Stack) -> None:
    ctx = api_stack.ctx
    ctx.stop_event.set()
    for thread in ctx.background:
        thread.join(timeout=10)
    report = api_stack.client.get("/readyz").json()
    assert report["indexer"] == "stopped"
    assert report["status"] == "ok"  # requests still work; the index only goes stale
