"""Rate limits per address and per IP, and the storage quota of a patient's own records.

Each test sets the limit it exercises (``stack_settings`` parametrized directly), drives the
real API and checks the 429 (``Retry-After``, the limit in ``details``), that nothing was
spent by the refused request (no nonce, no transaction, no access-history entry), and that
other callers are not affected. The counters are in the database: two limiters on one
database share them, as several API processes will.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from crypto import siwe
from crypto.patient_key import registration_typed_data
from ledger_api.chain.consortium import Role
from ledger_api.rates import parse_rate
from ledger_api.services.rate_limits import Limits, RateLimiter, SqlRateStore
from storage.db import create_engine, migrate, session_factory
from storage.models import SiweNonce
from tests.api.conftest import GENEROUS_LIMITS, Stack


def limits(**rates: str) -> dict[str, Any]:
    return {**GENEROUS_LIMITS, **rates}


def _limited(response: Any, *, action: str, scope: str, limit: int) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    details = error["details"]
    assert (details["action"], details["scope"], details["limit"]) == (action, scope, limit)
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= details["period_seconds"]
    return details


# ---------------------------------------------------------------------------- sign-in


@pytest.mark.parametrize("stack_settings", [limits(rate_sign_in_per_address="3/minute")])
def test_sign_in_per_address(api_stack: Stack) -> None:
    for _ in range(3):
        assert api_stack.login_response(api_stack.patient).status_code == 200
    message = api_stack.siwe_message(api_stack.patient)
    refused = api_stack.login_response(api_stack.patient, message)
    _limited(refused, action="sign_in", scope="address", limit=3)
    with api_stack.ctx.sessions() as db:  # the nonce was not spent: retry after Retry-After
        row = db.get(SiweNonce, message.nonce)
        assert row is not None
        assert row.used_at is None
    # another address is not affected
    assert api_stack.login_response(api_stack.other_patient).status_code == 200


@pytest.mark.parametrize("stack_settings", [limits(rate_sign_in_per_address="2/minute")])
def test_failed_logins_in_someones_name_do_not_lock_them_out(api_stack: Stack) -> None:
    for _ in range(5):  # signed by another key: refused before it counts for the address
        message = api_stack.siwe_message(api_stack.patient)
        forged = siwe.sign(message, api_stack.other_patient.key)
        response = api_stack.client.post(
            "/auth/login", json={"message": message.text(), "signature": "0x" + forged.hex()}
        )
        assert response.status_code == 401
    assert api_stack.login_response(api_stack.patient).status_code == 200


@pytest.mark.parametrize("stack_settings", [limits(rate_sign_in_per_ip="4/minute")])
def test_nonces_and_logins_per_ip(api_stack: Stack) -> None:
    for _ in range(4):
        response = api_stack.client.post("/auth/nonce", json={"address": Account.create().address})
        assert response.status_code == 200
    refused = api_stack.client.post("/auth/nonce", json={"address": api_stack.patient.address})
    _limited(refused, action="nonce", scope="ip", limit=4)
    for _ in range(4):  # logins have their own per-IP count
        api_stack.client.post("/auth/login", json={"message": "x", "signature": "0x00"})
    refused = api_stack.client.post("/auth/login", json={"message": "x", "signature": "0x00"})
    _limited(refused, action="sign_in", scope="ip", limit=4)


@pytest.mark.parametrize(
    "stack_settings",
    [limits(rate_sign_in_per_address="2/minute", rate_system_accounts="50/minute")],
)
def test_system_accounts_have_their_own_limit(api_stack: Stack) -> None:
    gateway = Account.create()
    api_stack.admin_consortium.enrol_member(
        account=gateway.address, institution_id=api_stack.cd3h, role=Role.RELAYER
    ).wait()
    for _ in range(6):
        assert api_stack.login_response(gateway).status_code == 200
    for _ in range(2):
        assert api_stack.login_response(api_stack.patient).status_code == 200
    assert api_stack.login_response(api_stack.patient).status_code == 429


# ---------------------------------------------------------------------------- denied reads


def _records(stack: Stack, count: int) -> list[str]:
    ids = []
    for n in range(count):
        record_id, header, body = stack.make_record(
            stack.patient, "role:doctor and org:cd3h", f"note {n}".encode()
        )
        response = stack.upload(
            stack.patient, record_id=record_id, patient=stack.patient, header=header, body=body
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["record_id"])
    return ids


@pytest.mark.parametrize("stack_settings", [limits(rate_denied_reads_per_address="3/minute")])
def test_denied_reads_per_address_cost_nothing_past_the_limit(api_stack: Stack) -> None:
    records = _records(api_stack, 4)
    stranger = Account.create()
    headers = api_stack.login(stranger)
    start = api_stack.w3.eth.block_number
    for record_id in records[:3]:
        response = api_stack.client.get(f"/records/{record_id}/body", headers=headers)
        assert response.status_code == 403
    assert len(api_stack.access_logged(start)) == 3
    refused = api_stack.client.get(f"/records/{records[3]}/body", headers=headers)
    _limited(refused, action="denied_read", scope="address", limit=3)
    assert len(api_stack.access_logged(start)) == 3  # no transaction, no history entry
    # granted reads are not limited, and other readers are not affected
    mine = api_stack.client.get(
        f"/records/{records[3]}/body", headers=api_stack.login(api_stack.patient)
    )
    assert mine.status_code == 200


def test_identical_denials_are_one_entry_with_a_count(api_stack: Stack) -> None:
    first, second = _records(api_stack, 2)
    stranger = Account.create()
    headers = api_stack.login(stranger)
    start = api_stack.w3.eth.block_number
    answers = [api_stack.client.get(f"/records/{first}/header", headers=headers) for _ in range(5)]
    assert [a.status_code for a in answers] == [403] * 5
    logged = api_stack.access_logged(start)
    assert len(logged) == 1  # the first denial is on chain, once
    txs = {a.json()["error"]["details"]["access_tx"] for a in answers}
    assert len(txs) == 1  # every repeat points at that entry
    assert [a.json()["error"]["details"]["repeated"] for a in answers] == [False] + [True] * 4
    # another record, or another purpose, is another entry
    api_stack.client.get(f"/records/{second}/header", headers=headers)
    api_stack.client.get(f"/records/{first}/header?purpose=research", headers=headers)
    assert len(api_stack.access_logged(start)) == 3
    events = api_stack.client.get(
        f"/audit/access-events?patient={api_stack.patient.address}&record={first}",
        headers=api_stack.login(api_stack.patient),
    ).json()["items"]
    repeats = sorted((e["purpose"], e["repeats"]) for e in events)
    assert repeats == [("research", 1), ("treatment", 5)]


@pytest.mark.parametrize("stack_settings", [{**GENEROUS_LIMITS, "denial_coalesce_seconds": 0}])
def test_coalescing_can_be_turned_off(api_stack: Stack) -> None:
    (record,) = _records(api_stack, 1)
    headers = api_stack.login(Account.create())
    start = api_stack.w3.eth.block_number
    for _ in range(2):
        assert api_stack.client.get(f"/records/{record}/body", headers=headers).status_code == 403
    assert len(api_stack.access_logged(start)) == 2


# ---------------------------------------------------------------------------- keys, uploads


@pytest.mark.parametrize("stack_settings", [limits(rate_key_issuance_per_member="2/hour")])
def test_patient_key_registrations_per_patient(api_stack: Stack) -> None:
    """``POST /patient-keys`` (each relay costs gas) counts per patient; the API issues no
    attribute key (each institution's authority limits its own issuance)."""
    patient = Account.create()

    def register(version: int) -> Any:
        public_key = secrets.token_bytes(32)
        data = registration_typed_data(
            patient=patient.address,
            public_key=public_key,
            version=version,
            chain_id=api_stack.w3.eth.chain_id,
            verifying_contract=api_stack.deployment.address("ConsentManager"),
        )
        signature = bytes(patient.sign_message(encode_typed_data(full_message=data)).signature)
        return api_stack.client.post(
            "/patient-keys",
            json={
                "patient": patient.address,
                "public_key": "0x" + public_key.hex(),
                "version": version,
                "signature": "0x" + signature.hex(),
            },
        )

    assert [register(v).status_code for v in (1, 2)] == [200, 200]
    start = api_stack.w3.eth.block_number
    details = _limited(register(3), action="key_issue", scope="address", limit=2)
    assert details["period_seconds"] == 3600
    assert api_stack.w3.eth.block_number == start  # refused before any transaction


@pytest.mark.parametrize("stack_settings", [limits(rate_uploads_per_address="2/minute")])
def test_uploads_per_address(api_stack: Stack) -> None:
    _records(api_stack, 2)
    record_id, header, body = api_stack.make_record(api_stack.patient, "role:doctor", b"third")
    refused = api_stack.upload(
        api_stack.patient, record_id=record_id, patient=api_stack.patient, header=header, body=body
    )
    _limited(refused, action="upload", scope="address", limit=2)


@pytest.mark.parametrize(
    "stack_settings", [{**GENEROUS_LIMITS, "quota_self_authored_bytes": 8 * 1024}]
)
def test_self_authored_storage_quota(api_stack: Stack) -> None:
    def share(author: Any, size: int) -> Any:
        """A record of about 3.8 KiB of header (envelope v3: two institutions' slots and the
        patient's) and ``size`` bytes of body."""
        record_id, header, body = api_stack.make_record(
            api_stack.patient, "role:doctor", b"x" * size
        )
        return api_stack.upload(
            author, record_id=record_id, patient=api_stack.patient, header=header, body=body
        )

    assert share(api_stack.patient, 1000).status_code == 201
    refused = share(api_stack.patient, 3000)
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "storage_quota_exceeded"
    assert error["details"]["quota"] == 8 * 1024
    assert 1000 < error["details"]["used"] < 8 * 1024
    # records their clinicians write do not count against the patient's own quota
    assert share(api_stack.cardiologist, 3000).status_code == 201


# ---------------------------------------------------------------------------- shared state


def test_limiters_on_one_database_share_their_counts(database_url: str) -> None:
    migrate(database_url)
    engines = [create_engine(database_url) for _ in range(2)]
    try:
        settings_limits = Limits(
            per_address={"key_issue": parse_rate("5/hour")}, per_ip={}, system=parse_rate("1/s")
        )
        now = time.time()
        processes = [
            RateLimiter(SqlRateStore(session_factory(e), lambda: now), settings_limits, lambda: now)
            for e in engines
        ]
        for n in range(5):
            processes[n % 2].hit("key_issue", address="0x" + "ab" * 20)
        with pytest.raises(Exception, match="too many key issue requests"):
            processes[1].hit("key_issue", address="0x" + "ab" * 20)
        processes[0].hit("key_issue", address="0x" + "cd" * 20)  # another address: its own
    finally:
        for engine in engines:
            engine.dispose()
