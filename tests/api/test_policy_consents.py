"""Policy consents need their policy text: the chain keeps only the hash, and the API decides
who a policy consent admits from the text. Relayed without it, a consent granted nothing and
its nonce was spent. Now it is refused before anything is sent (the nonce stays usable), the
text may come from the index (another consent of the same policy), and a consent that reached
the chain without its text takes it later, once, when it hashes right."""

from __future__ import annotations

from typing import Any

from crypto.policy import normalize, policy_hash
from storage.models import Consent as ConsentRow
from tests.api.conftest import Stack

POLICY = "role:doctor and org:cd3h"


def _body(stack: Stack, policy_text: str | None, **fields: Any) -> tuple[dict[str, Any], Any]:
    consent, signature = stack.sign_consent(
        stack.patient, grantee_policy_hash=policy_hash(normalize(POLICY)), **fields
    )
    body: dict[str, Any] = {
        "consent": {
            "patient": consent.patient,
            "grantee_policy_hash": "0x" + consent.grantee_policy_hash.hex(),
            "purpose": int(consent.purpose),
            "not_before": consent.not_before,
            "expires_at": consent.expires_at,
            "nonce": consent.nonce,
        },
        "signature": "0x" + signature.hex(),
    }
    if policy_text is not None:
        body["grantee_policy"] = policy_text
    return body, consent


def _stored_text(stack: Stack, consent_id: str) -> str | None:
    with stack.ctx.sessions() as db:
        row = db.get(ConsentRow, consent_id)
        assert row is not None
        return row.policy_text


def _record(stack: Stack) -> str:
    record_id, header, body = stack.make_record(stack.patient, "role:doctor", b"{}")
    response = stack.upload(
        stack.patient, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert response.status_code == 201, response.text
    return response.json()["record_id"]


def test_a_policy_consent_without_its_text_is_refused_and_spends_nothing(api_stack: Stack) -> None:
    s = api_stack
    record = _record(s)
    headers = s.login(s.patient)
    body, _ = _body(s, None)
    start = s.w3.eth.block_number
    refused = s.client.post("/consents", json=body, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "policy_text_required"
    assert s.w3.eth.block_number == start  # nothing sent: the nonce is still the patient's
    # the same signed consent, now with its text: relayed, and it grants
    relayed = s.client.post("/consents", json={**body, "grantee_policy": POLICY}, headers=headers)
    assert relayed.status_code == 201, relayed.text
    assert _stored_text(s, relayed.json()["consent_id"]) == normalize(POLICY)
    read = s.client.get(f"/records/{record}/header", headers=s.login(s.cardiologist))
    assert read.status_code == 200
    assert read.headers["x-access-reason"] == "2"  # POLICY_CONSENT


def test_the_text_may_come_from_the_index(api_stack: Stack) -> None:
    s = api_stack
    headers = s.login(s.patient)
    first, _ = _body(s, POLICY, nonce=10)
    assert s.client.post("/consents", json=first, headers=headers).status_code == 201
    second, _ = _body(s, None, nonce=20)  # another consent of the same policy, no text
    relayed = s.client.post("/consents", json=second, headers=headers)
    assert relayed.status_code == 201, relayed.text
    assert _stored_text(s, relayed.json()["consent_id"]) == normalize(POLICY)


def test_a_consent_on_chain_without_its_text_takes_it_later(api_stack: Stack) -> None:
    s = api_stack
    record = _record(s)
    consent, _ = s.grant(s.patient, grantee_policy_hash=policy_hash(normalize(POLICY)))
    s.wait_indexed()  # the indexer's row: the hash, no text
    body, _ = _body(s, None, nonce=consent.nonce, expires_at=consent.expires_at)
    cid = None
    cardiologist = s.login(s.cardiologist)
    assert s.client.get(f"/records/{record}/header", headers=cardiologist).status_code == 403
    headers = s.login(s.patient)
    wrong = s.client.post(
        "/consents", json={**body, "grantee_policy": "role:doctor"}, headers=headers
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "policy_hash_mismatch"
    start = s.w3.eth.block_number
    later = s.client.post("/consents", json={**body, "grantee_policy": POLICY}, headers=headers)
    assert later.status_code == 200, later.text  # nothing relayed again
    assert s.w3.eth.block_number == start
    cid = later.json()["consent_id"]
    assert _stored_text(s, cid) == normalize(POLICY)
    # a retry changes nothing; the stored text grants now
    again = s.client.post("/consents", json={**body, "grantee_policy": POLICY}, headers=headers)
    assert again.status_code == 200
    assert again.json()["tx_hash"] == later.json()["tx_hash"]
    assert s.client.get(f"/records/{record}/body", headers=cardiologist).status_code == 200


def test_an_address_consent_takes_no_policy_text(api_stack: Stack) -> None:
    s = api_stack
    consent, signature = s.sign_consent(s.patient, grantee=s.gp.address)
    body = {
        "consent": {
            "patient": consent.patient,
            "grantee": consent.grantee,
            "expires_at": consent.expires_at,
            "nonce": consent.nonce,
        },
        "signature": "0x" + signature.hex(),
        "grantee_policy": POLICY,
    }
    response = s.client.post("/consents", json=body, headers=s.login(s.patient))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_policy"
