"""Bounded input: a body limit before parsing, short error messages, strict numbers and ids.

Each case is one the hardening issue found answering 500 (or a 20 MiB 422) on the old main,
sent over the real app: the same routes, the same handlers, a real chain and database.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import Stack

MIB = 1024 * 1024


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# ---------------------------------------------------------------------------- body limit


def test_json_body_over_the_limit_is_413_before_it_is_parsed(api_stack: Stack) -> None:
    body = json.dumps({"address": "0x" + "a" * (2 * MIB)}).encode()
    response = api_stack.client.post(
        "/auth/nonce", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "payload_too_large"
    assert error["details"]["limit"] == api_stack.settings.max_json_bytes == MIB
    assert len(response.content) < 500


def test_chunked_body_over_the_limit_is_413(api_stack: Stack) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts as it receives
        yield b'{"address": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    response = api_stack.client.post(
        "/auth/nonce", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert _error(response)["details"]["limit"] == MIB


def test_body_just_under_the_limit_reaches_validation(api_stack: Stack) -> None:
    body = json.dumps({"address": "0x" + "a" * (MIB - 100)}).encode()
    assert len(body) <= MIB
    response = api_stack.client.post(
        "/auth/nonce", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422  # max_length of the address, not the body limit
    assert len(response.content) < 2000


def test_json_that_is_not_utf8_is_400_in_our_shape(api_stack: Stack) -> None:
    response = api_stack.client.post(
        "/auth/nonce",
        content=b'{"address": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


def test_bad_content_length_is_400(api_stack: Stack) -> None:
    # a Content-Length that is not ASCII digits cannot be trusted to bound the body
    response = api_stack.client.post(
        "/auth/nonce", content=b"{}", headers={"Content-Length": "1e3"}
    )
    assert response.status_code == 400


# ---------------------------------------------------------------------------- short errors


def test_a_long_bad_field_is_not_echoed(api_stack: Stack) -> None:
    headers = api_stack.login(api_stack.patient)
    bad = "z" * 500_000
    response = api_stack.client.get(f"/consents?patient={bad[:42]}", headers=headers)
    assert response.status_code == 422
    response = api_stack.client.post("/auth/nonce", json={"address": bad})
    assert response.status_code == 422
    assert len(response.content) < 2000
    assert "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz" not in response.text


def test_an_unknown_huge_key_is_cut_short_in_the_error(api_stack: Stack) -> None:
    headers = api_stack.login(api_stack.patient)
    body = {"consent": {}, "signature": "0x", "k" * 900_000: 1}
    response = api_stack.client.post("/consents", json=body, headers=headers)
    assert response.status_code == 422
    assert len(response.content) < 5000


def test_many_errors_are_listed_up_to_a_bound(api_stack: Stack) -> None:
    headers = api_stack.login(api_stack.cardiologist)
    body = {"patient": api_stack.patient.address, "record_ids": [1] * 60}
    response = api_stack.client.post("/referrals", json=body, headers=headers)
    assert response.status_code == 422
    details = _error(response)["details"]
    assert len(details["errors"]) <= 20
    assert details["more_errors"] > 0


# ---------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "query",
    [
        "/consents?patient={p}&offset=99999999999999999999999",
        "/consents?patient={p}&offset=²",
        "/consents?patient={p}&limit=+5",
        "/consents?patient={p}&limit=%201_0",
        "/consents?patient={p}&limit=12.0",
        "/consents?patient={p}&expiring_within=1²",
        "/consents?patient={p}&expiring_within=١٢d",
        "/audit/access-events?patient={p}&offset=99999999999999999999999",
        "/referrals?offset=99999999999999999999999",
        "/referrals?institution=²",
        "/referrals?institution=1²",
        "/consultations?offset=99999999999999999999999",
        "/patients/{p}/records?offset=99999999999999999999999",
        "/patients/{p}/timeline?offset=²",
        "/patients/{p}/break-glass?offset=99999999999999999999999",
    ],
)
def test_malformed_numbers_in_queries_are_422(api_stack: Stack, query: str) -> None:
    headers = api_stack.login(api_stack.patient)
    response = api_stack.client.get(query.format(p=api_stack.patient.address), headers=headers)
    assert response.status_code == 422, response.text
    assert len(response.content) < 3000


def test_auditor_queue_offset_is_bounded(api_stack: Stack) -> None:
    headers = api_stack.login(api_stack.auditor)
    for query in ("/audit/break-glass?offset=99999999999999999999999", "/audit/verify?to_block=²"):
        response = api_stack.client.get(query, headers=headers)
        assert response.status_code == 422, response.text


@pytest.mark.parametrize("purpose", ["²", "1²", "٣", " 1", "99999999999999999999999"])
@pytest.mark.parametrize("route", ["/consents", "/consents/revocations"])
def test_purpose_in_a_consent_is_parsed_strictly(
    api_stack: Stack, route: str, purpose: str
) -> None:
    consent, signature = api_stack.sign_consent(api_stack.patient, grantee=api_stack.gp.address)
    fields = {
        "patient": consent.patient,
        "grantee": consent.grantee,
        "purpose": purpose,
        "not_before": 0,
        "expires_at": consent.expires_at,
        "nonce": consent.nonce,
    }
    body: dict[str, Any] = {"consent": fields, "signature": "0x" + signature.hex()}
    if route.endswith("revocations"):
        body = {**body, "nonce": consent.nonce + 1, "deadline": consent.expires_at}
    response = api_stack.client.post(route, json=body, headers=api_stack.login(api_stack.patient))
    assert response.status_code == 422, response.text
    assert _error(response)["code"] in ("invalid_purpose", "invalid_request")


# ---------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "opening", ["0x" + "zz" * 32, "0x" + "²" * 64, "0x" + "0" * 63 + "g", "x" * 66]
)
def test_a_non_hex_opening_id_is_422(api_stack: Stack, opening: str) -> None:
    review = api_stack.client.post(
        f"/audit/break-glass/{opening}/review",
        json={"justified": True, "note": "checked"},
        headers=api_stack.login(api_stack.auditor),
    )
    assert review.status_code == 422, review.text


@pytest.mark.parametrize("path", ["/records/{i}", "/records/{i}/header", "/referrals/{i}"])
def test_non_hex_ids_are_422_everywhere(api_stack: Stack, path: str) -> None:
    bad = "0x" + "ñ" * 64
    response = api_stack.client.get(
        path.format(i=bad), headers=api_stack.login(api_stack.cardiologist)
    )
    assert response.status_code == 422, response.text


def test_an_id_longer_than_any_id_is_422(api_stack: Stack) -> None:
    response = api_stack.client.get(
        "/records/0x" + secrets.token_hex(40), headers=api_stack.login(api_stack.patient)
    )
    assert response.status_code == 422
