"""Every failure answers in one JSON shape with a stable code, and never leaks a traceback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web3 import Web3

from ledger_api.chain.anvil import free_port
from ledger_api.chain.client import ChainClient
from ledger_api.deps import DbDep
from ledger_api.http_errors import (
    ApiError,
    BadRequestError,
    BadSignatureError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnprocessableError,
)
from storage.db import create_engine, session_factory
from storage.models import SiweNonce
from tests.api.conftest import Stack

EXPECTED = [
    (BadRequestError, 400, "bad_request"),
    (BadSignatureError, 400, "bad_signature"),
    (UnauthorizedError, 401, "unauthorized"),
    (ForbiddenError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (PayloadTooLargeError, 413, "payload_too_large"),
    (UnprocessableError, 422, "invalid_input"),
    (ServiceUnavailableError, 503, "unavailable"),
]


def _shape(body: dict[str, object]) -> dict[str, object]:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"code", "message", "details"}
    return error


def test_unknown_path_is_404_in_our_shape(api_stack: Stack) -> None:
    response = api_stack.client.get("/no/such/endpoint")
    assert response.status_code == 404
    assert _shape(response.json())["code"] == "not_found"


def test_wrong_method_is_405_in_our_shape(api_stack: Stack) -> None:
    response = api_stack.client.get("/auth/login")
    assert response.status_code == 405
    assert _shape(response.json())["code"] == "method_not_allowed"


def test_schema_violation_is_422_invalid_request_naming_the_field(api_stack: Stack) -> None:
    response = api_stack.client.post("/auth/nonce", json={"addr": "0x00"})
    assert response.status_code == 422
    error = _shape(response.json())
    assert error["code"] == "invalid_request"
    locations = [e["loc"] for e in error["details"]["errors"]]  # type: ignore[index]
    assert ["body", "address"] in locations


def test_body_that_is_not_json_is_422(api_stack: Stack) -> None:
    response = api_stack.client.post(
        "/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert _shape(response.json())["code"] == "invalid_request"


def test_oversized_login_message_is_refused_before_parsing(api_stack: Stack) -> None:
    response = api_stack.client.post(
        "/auth/login", json={"message": "x" * 10_000, "signature": "0x00"}
    )
    assert response.status_code == 422
    assert _shape(response.json())["code"] == "invalid_request"


@pytest.mark.parametrize(("cls", "status", "code"), EXPECTED)
def test_each_api_error_renders_its_status_and_code(
    api_stack: Stack, cls: type[ApiError], status: int, code: str
) -> None:
    app: FastAPI = api_stack.client.app  # type: ignore[assignment]

    def raise_it() -> None:
        raise cls("what went wrong", details={"field": "x"})

    app.add_api_route(f"/test-only/{code}-{status}", raise_it)
    response = api_stack.client.get(f"/test-only/{code}-{status}")
    assert response.status_code == status
    error = _shape(response.json())
    assert error == {"code": code, "message": "what went wrong", "details": {"field": "x"}}


def test_a_specific_code_overrides_the_class_default(api_stack: Stack) -> None:
    app: FastAPI = api_stack.client.app  # type: ignore[assignment]

    def raise_it() -> None:
        raise ConflictError("that nonce is spent", code="nonce_used")

    app.add_api_route("/test-only/nonce-used", raise_it)
    response = api_stack.client.get("/test-only/nonce-used")
    assert response.status_code == 409
    assert _shape(response.json())["code"] == "nonce_used"


def test_unexpected_error_is_500_without_a_traceback(
    api_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    app: FastAPI = api_stack.client.app  # type: ignore[assignment]

    def crash() -> None:
        raise RuntimeError("secret detail /etc/medledger/keys line 42")

    app.add_api_route("/test-only/crash", crash)
    client = TestClient(app, raise_server_exceptions=False)  # the running app, same lifespan
    with caplog.at_level(logging.ERROR, logger="ledger_api.errors"):
        response = client.get("/test-only/crash")
    assert response.status_code == 500
    error = _shape(response.json())
    assert error == {"code": "internal", "message": "internal server error", "details": {}}
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    # the operator still gets the full story in the log
    assert any("secret detail" in (r.exc_text or "") for r in caplog.records)


def test_api_errors_belong_to_the_package_hierarchy() -> None:
    from ledger_api.errors import LedgerApiError

    for cls, status, code in EXPECTED:
        error = cls("m")
        assert isinstance(error, LedgerApiError)
        assert (error.status_code, error.code, error.details) == (status, code, {})


def test_database_outage_is_503_database_unavailable(api_stack: Stack) -> None:
    headers = api_stack.login(api_stack.patient)
    ctx = api_stack.ctx
    healthy_engine, healthy_sessions = ctx.engine, ctx.sessions
    dead = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    ctx.engine, ctx.sessions = dead, session_factory(dead)
    try:
        response = api_stack.client.get("/auth/me", headers=headers)
    finally:
        ctx.engine, ctx.sessions = healthy_engine, healthy_sessions
        dead.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert _shape(response.json())["code"] == "database_unavailable"
    assert "nobody" not in response.text  # no connection string leaked


def test_chain_outage_is_503_chain_unavailable(api_stack: Stack) -> None:
    headers = api_stack.login(api_stack.cardiologist)
    ctx = api_stack.ctx
    healthy = ctx.chain
    dead = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}", request_kwargs={"timeout": 2}))
    ctx.chain = ChainClient.bind(dead, deployment=healthy.deployment, relayer=healthy.relayer)
    ctx.principals.clear()  # force a Consortium read now
    try:
        response = api_stack.client.get("/auth/me", headers=headers)
    finally:
        ctx.chain = healthy
    assert response.status_code == 503
    assert _shape(response.json())["code"] == "chain_unavailable"
    # the node is back: so is the service, with the same session
    assert api_stack.client.get("/auth/me", headers=headers).json()["role"] == "doctor"


def test_a_failed_request_commit_is_the_answer_not_a_200(api_stack: Stack) -> None:
    """DbDep commits before the response is sent: an unsaved write never answers 200."""
    taken = api_stack.siwe_message(api_stack.patient).nonce
    app: FastAPI = api_stack.client.app  # type: ignore[assignment]

    def write_a_duplicate(db: DbDep) -> dict[str, str]:
        now = datetime.now(UTC)
        db.add(SiweNonce(nonce=taken, issued_at=now, expires_at=now))  # primary key taken
        return {"status": "saved?"}

    app.add_api_route("/test-only/duplicate", write_a_duplicate, methods=["POST"])
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/test-only/duplicate")
    assert response.status_code == 500
    assert _shape(response.json())["code"] == "internal"
    with api_stack.ctx.sessions() as db:
        row = db.get(SiweNonce, taken)
        assert row is not None
        assert row.expires_at > datetime.now(UTC)  # the original row, untouched
