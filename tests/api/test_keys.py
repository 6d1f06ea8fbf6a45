"""``/keys``: the published MPK, and attribute keys issued sealed and logged, on a real stack."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from eth_account.signers.local import LocalAccount

from crypto import envelope
from crypto.errors import EnvelopeAccessDeniedError
from crypto.fame_types import UserKey
from crypto.keys import generate_x25519_keypair, load_master_public_key, open_user_key
from ledger_api.chain.access_log import AccessLog
from ledger_api.chain.consortium import Role
from ledger_api.services.authority import attributes_hash
from storage.models import KeyIssuance
from tests.api.conftest import Stack

PLAINTEXT = b'{"resourceType": "Observation", "code": "8867-4", "value": 72}'


def issue(stack: Stack, account: LocalAccount) -> tuple[dict[str, Any], UserKey]:
    pair = generate_x25519_keypair()
    response = stack.client.post(
        "/keys/issue",
        json={"x25519_public_key": base64.b64encode(pair.public_key).decode()},
        headers=stack.login(account),
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    return answer, open_user_key(base64.b64decode(answer["sealed_key"]), pair.private_key)


def key_events(stack: Stack) -> list[dict[str, Any]]:
    log = AccessLog(stack.w3, stack.deployment.address("AccessLog"))
    events = log.contract.events.KeyIssued.get_logs(from_block=stack.deployment.block_number)
    return [dict(e["args"]) | {"tx": "0x" + e["transactionHash"].hex()} for e in events]


def test_public_key_is_the_authority_mpk(api_stack: Stack) -> None:
    s = api_stack
    response = s.client.get("/keys/public")  # anonymous: encrypting needs no account
    assert response.status_code == 200
    body = response.json()
    mpk_bytes = base64.b64decode(body["mpk"])
    assert mpk_bytes == s.mpk_bytes
    assert body["mpk_sha256"] == hashlib.sha256(mpk_bytes).hexdigest()
    assert body["scheme"].startswith("fame")
    load_master_public_key(mpk_bytes)  # a valid key, not just bytes


def test_doctor_key_has_exactly_consortium_attributes_and_decrypts(api_stack: Stack) -> None:
    s = api_stack
    mpk = load_master_public_key(base64.b64decode(s.client.get("/keys/public").json()["mpk"]))
    record, body = envelope.encrypt_bytes(
        PLAINTEXT, mpk=mpk, policy="dept:cardiology and org:cd3h and role:doctor"
    )
    answer, user_key = issue(s, s.cardiologist)
    expected = {
        "dept:cardiology",
        "role:doctor",
        "org:cd3h",
        f"uid:{s.cardiologist.address.lower()}",
        "epoch:1",  # the membership epoch (docs/key-epochs.md)
    }
    assert user_key.attributes == expected
    assert set(answer["attributes"]) == expected
    assert answer["attributes_hash"] == "0x" + attributes_hash(expected).hex()
    assert envelope.decrypt_bytes(record.header_bytes, body, user_key=user_key) == PLAINTEXT

    (event,) = [e for e in key_events(s) if e["tx"] == answer["tx_hash"]]
    assert event["holder"] == s.cardiologist.address
    assert "0x" + event["attributesHash"].hex() == answer["attributes_hash"]
    assert event["epoch"] == 1
    with s.ctx.sessions() as db:
        row = db.scalars(
            sa.select(KeyIssuance).where(KeyIssuance.tx_hash == answer["tx_hash"])
        ).one()
    assert row.holder == s.cardiologist.address.lower()
    assert set(row.attributes or []) == expected
    assert row.attributes_hash == answer["attributes_hash"]

    # The GP's key (other dept, other org) does not open the cardiology record.
    _, gp_key = issue(s, s.gp)
    assert gp_key.attributes == {
        "dept:general_practice",
        "role:doctor",
        "org:qyqchc",
        f"uid:{s.gp.address.lower()}",
        "epoch:1",
    }
    with pytest.raises(EnvelopeAccessDeniedError):
        envelope.decrypt_bytes(record.header_bytes, body, user_key=gp_key)
    assert "medledger_keys_issued_total 2.0" in s.client.get("/metrics").text


def test_patient_gets_only_uid_and_opens_only_own_records(api_stack: Stack) -> None:
    s = api_stack
    answer, user_key = issue(s, s.patient)
    assert answer["attributes"] == [f"uid:{s.patient.address.lower()}"]
    assert user_key.attributes == {f"uid:{s.patient.address.lower()}"}
    _, own_header, own_body = s.make_record(s.patient, "dept:cardiology", PLAINTEXT)
    assert envelope.decrypt_bytes(own_header, own_body, user_key=user_key) == PLAINTEXT
    _, other_header, other_body = s.make_record(s.other_patient, "dept:cardiology", PLAINTEXT)
    with pytest.raises(EnvelopeAccessDeniedError):
        envelope.decrypt_bytes(other_header, other_body, user_key=user_key)


def test_bad_requests_issue_nothing(api_stack: Stack) -> None:
    s = api_stack
    head = s.w3.eth.block_number
    good = base64.b64encode(generate_x25519_keypair().public_key).decode()
    anonymous = s.client.post("/keys/issue", json={"x25519_public_key": good})
    assert anonymous.status_code == 401
    headers = s.login(s.cardiologist)
    for bad in (
        "not base64!!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(bytes(32)).decode(),
    ):
        response = s.client.post("/keys/issue", json={"x25519_public_key": bad}, headers=headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "invalid_public_key"
    missing = s.client.post("/keys/issue", json={}, headers=headers)
    assert missing.status_code == 422
    assert s.w3.eth.block_number == head
    assert key_events(s) == []
    with s.ctx.sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(KeyIssuance)) == 0


def test_suspended_member_is_refused(api_stack: Stack) -> None:
    s = api_stack
    headers = s.login(s.gp)
    s.admin_consortium.suspend_member(account=s.gp.address).wait()
    pair = generate_x25519_keypair()
    response = s.client.post(
        "/keys/issue",
        json={"x25519_public_key": base64.b64encode(pair.public_key).decode()},
        headers=headers,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "member_suspended"
    assert key_events(s) == []


def test_issuance_reads_consortium_afresh(api_stack: Stack) -> None:
    s = api_stack
    headers = s.login(s.cardiologist)
    assert s.client.get("/auth/me", headers=headers).status_code == 200  # principal now cached
    s.admin_consortium.update_member(
        account=s.cardiologist.address, role=Role.DOCTOR, attributes=["dept:icu"]
    ).wait()
    answer, user_key = issue(s, s.cardiologist)
    assert "dept:icu" in user_key.attributes
    assert "dept:cardiology" not in user_key.attributes
    assert set(answer["attributes"]) == set(user_key.attributes)
