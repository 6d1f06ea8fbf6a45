"""``/consents`` through HTTP on a real stack: relay, refuse, revoke, list.

Every refusal is checked for what it must NOT have done: no transaction (the head block does
not move), nothing stored on chain for the consent key, no index row.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa

from crypto.policy import normalize, policy_hash
from crypto.signing import Consent, Purpose, Revocation, consent_id, sign
from storage.models import Consent as ConsentRow
from tests.api.conftest import Stack


def consent_json(consent: Consent) -> dict[str, Any]:
    zero = b"\x00" * 32
    return {
        "patient": consent.patient,
        "grantee": None if int(consent.grantee, 16) == 0 else consent.grantee,
        "grantee_policy_hash": None
        if consent.grantee_policy_hash == zero
        else "0x" + consent.grantee_policy_hash.hex(),
        "record_id": None if consent.record_id == zero else "0x" + consent.record_id.hex(),
        "purpose": int(consent.purpose),
        "not_before": consent.not_before,
        "expires_at": consent.expires_at,
        "nonce": consent.nonce,
    }


def relay(stack: Stack, consent: Consent, signature: bytes, **extra: Any) -> Any:
    body = {"consent": consent_json(consent), "signature": "0x" + signature.hex(), **extra}
    return stack.client.post("/consents", json=body, headers=stack.login(stack.patient))


def index_row(stack: Stack, consent: Consent) -> ConsentRow | None:
    with stack.ctx.sessions() as db:
        return db.get(ConsentRow, "0x" + consent_id(consent).hex())


def nothing_on_chain(stack: Stack, consent: Consent) -> bool:
    info = stack.ctx.chain.consents.grant_of(consent)
    return (info.not_before, info.expires_at, info.nonce) == (0, 0, 0)


def is_allowed(stack: Stack, consent: Consent, grantee: str, record_id: bytes) -> bool:
    return stack.ctx.chain.consents.is_allowed(
        patient=consent.patient, grantee=grantee, record_id=record_id, purpose=Purpose.TREATMENT
    )


def test_relay_lists_and_restricts(api_stack: Stack) -> None:
    s = api_stack
    consent, signature = s.sign_consent(s.patient, grantee=s.cardiologist.address)
    response = relay(s, consent, signature)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["consent_id"] == "0x" + consent_id(consent).hex()
    receipt = s.w3.eth.get_transaction_receipt(answer["tx_hash"])
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == answer["block_number"]
    assert is_allowed(s, consent, s.cardiologist.address, secrets.token_bytes(32))
    assert not is_allowed(s, consent, s.gp.address, secrets.token_bytes(32))

    row = index_row(s, consent)
    assert row is not None
    assert (row.patient, row.grantee) == (s.patient.address.lower(), s.cardiologist.address.lower())
    assert (row.nonce, row.tx_hash) == (str(consent.nonce), answer["tx_hash"])

    own = s.client.get(f"/consents?patient={s.patient.address}", headers=s.login(s.patient))
    assert own.status_code == 200, own.text
    (item,) = own.json()["items"]
    assert item["consent_id"] == answer["consent_id"]
    assert item["active"] is True
    assert item["grantee"] == s.cardiologist.address
    assert item["purpose"] == "treatment"

    as_grantee = s.client.get(
        f"/consents?grantee={s.cardiologist.address}", headers=s.login(s.cardiologist)
    )
    assert as_grantee.status_code == 200
    assert [i["consent_id"] for i in as_grantee.json()["items"]] == [answer["consent_id"]]

    snoop = s.client.get(f"/consents?patient={s.patient.address}", headers=s.login(s.other_patient))
    assert snoop.status_code == 403
    assert snoop.json()["error"]["code"] == "forbidden"
    doctor_snoop = s.client.get(f"/consents?patient={s.patient.address}", headers=s.login(s.gp))
    assert doctor_snoop.status_code == 403
    auditor = s.client.get(f"/consents?patient={s.patient.address}", headers=s.login(s.auditor))
    assert auditor.status_code == 200
    assert auditor.json()["total"] == 1
    assert s.client.get(f"/consents?patient={s.patient.address}").status_code == 401


def test_consent_signed_by_someone_else_is_refused_before_sending(api_stack: Stack) -> None:
    s = api_stack
    consent, forged = s.sign_consent(
        s.patient, grantee=s.cardiologist.address, signer=s.other_patient
    )
    head = s.w3.eth.block_number
    response = relay(s, consent, forged)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_signature"
    assert error["details"]["signer"] == s.other_patient.address
    assert s.w3.eth.block_number == head
    assert nothing_on_chain(s, consent)
    assert index_row(s, consent) is None
    garbage = relay(s, consent, b"\x01" * 65)
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "bad_signature"
    assert s.w3.eth.block_number == head


def test_replayed_consent_is_answered_from_the_index_and_nothing_sent(api_stack: Stack) -> None:
    s = api_stack
    consent, signature = s.sign_consent(s.patient, grantee=s.gp.address)
    first = relay(s, consent, signature)
    assert first.status_code == 201
    head = s.w3.eth.block_number
    again = relay(s, consent, signature)  # a retry after a lost answer: the same consent
    assert again.status_code == 200
    assert again.json()["tx_hash"] == first.json()["tx_hash"]
    assert s.w3.eth.block_number == head  # nothing sent
    # A lower nonce for the same key is a replay: refused at gas estimation.
    older, older_sig = s.sign_consent(s.patient, grantee=s.gp.address, nonce=consent.nonce - 1)
    assert relay(s, older, older_sig).json()["error"]["code"] == "nonce_used"
    assert index_row(s, older) is None


def test_expired_or_inverted_window_is_422_and_nothing_sent(api_stack: Stack) -> None:
    s = api_stack
    now = int(s.w3.eth.get_block("latest")["timestamp"])
    head = s.w3.eth.block_number
    for not_before, expires_at in ((0, now - 10), (now + 500, now + 100)):
        consent, signature = s.sign_consent(
            s.patient, grantee=s.gp.address, not_before=not_before, expires_at=expires_at
        )
        response = relay(s, consent, signature)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_window"
        assert nothing_on_chain(s, consent)
        assert index_row(s, consent) is None
    assert s.w3.eth.block_number == head


def test_policy_consent_text_must_match_its_hash(api_stack: Stack) -> None:
    s = api_stack
    policy = "dept:Cardiology AND org:cd3h"
    consent, signature = s.sign_consent(s.patient, grantee_policy_hash=policy_hash(policy))
    wrong = relay(s, consent, signature, grantee_policy="dept:cardiology and org:qyqchc")
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "policy_hash_mismatch"
    assert nothing_on_chain(s, consent)
    assert index_row(s, consent) is None
    malformed = relay(s, consent, signature, grantee_policy="dept:cardiology and (")
    assert malformed.json()["error"]["code"] == "invalid_policy"

    ok = relay(s, consent, signature, grantee_policy=policy)
    assert ok.status_code == 201, ok.text
    assert s.ctx.chain.consents.is_allowed_for_policy(
        patient=s.patient.address,
        policy_hash=policy_hash(policy),
        record_id=secrets.token_bytes(32),
        purpose=Purpose.TREATMENT,
    )
    row = index_row(s, consent)
    assert row is not None
    assert row.policy_text == normalize(policy)
    assert row.grantee is None
    # The indexer's later upsert of the same event keeps the policy text only the API knew.
    s.wait_indexed()
    row = index_row(s, consent)
    assert row is not None
    assert row.policy_text == normalize(policy)


def test_revocation_and_its_replay(api_stack: Stack) -> None:
    s = api_stack
    record_id = secrets.token_bytes(32)
    consent, signature = s.sign_consent(s.patient, grantee=s.gp.address, record_id=record_id)
    assert relay(s, consent, signature).status_code == 201
    assert is_allowed(s, consent, s.gp.address, record_id)
    revocation, rev_sig = s.sign_revocation(s.patient, consent, nonce=consent.nonce + 1)
    body = {
        "consent": consent_json(consent),
        "nonce": revocation.nonce,
        "deadline": revocation.deadline,
        "signature": "0x" + rev_sig.hex(),
    }
    response = s.client.post("/consents/revocations", json=body, headers=s.login(s.patient))
    assert response.status_code == 200, response.text
    assert response.json()["consent_id"] == "0x" + consent_id(consent).hex()
    assert not is_allowed(s, consent, s.gp.address, record_id)
    row = index_row(s, consent)
    assert row is not None
    assert row.revoked is True
    assert row.revoke_tx_hash == response.json()["tx_hash"]
    listed = s.client.get(f"/consents?grantee={s.gp.address}", headers=s.login(s.gp)).json()
    (item,) = listed["items"]
    assert item["revoked"] is True
    assert item["active"] is False

    head = s.w3.eth.block_number
    replay = s.client.post("/consents/revocations", json=body, headers=s.login(s.patient))
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "consent_not_in_force"
    assert s.w3.eth.block_number == head

    # A revocation signed by someone else never reaches the chain.
    other, _ = s.sign_consent(s.patient, grantee=s.cardiologist.address)
    forged = dict(body, consent=consent_json(other), signature="0x" + rev_sig.hex())
    refused = s.client.post("/consents/revocations", json=forged, headers=s.login(s.patient))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "bad_signature"


def test_later_consent_supersedes_and_listing_pages(api_stack: Stack) -> None:
    s = api_stack
    first, sig1 = s.sign_consent(s.patient, grantee=s.cardiologist.address, nonce=1)
    second, sig2 = s.sign_consent(
        s.patient, grantee=s.cardiologist.address, nonce=2, expires_at=int(time.time()) + 7200
    )
    third, sig3 = s.sign_consent(s.patient, grantee=s.gp.address, purpose=Purpose.REFERRAL)
    for consent, sig in ((first, sig1), (second, sig2), (third, sig3)):
        assert relay(s, consent, sig).status_code == 201
    headers = s.login(s.patient)
    page = s.client.get(f"/consents?patient={s.patient.address}&limit=2", headers=headers).json()
    assert page["total"] == 3
    assert [i["consent_id"] for i in page["items"]] == [
        "0x" + consent_id(c).hex() for c in (third, second)
    ]
    rest = s.client.get(
        f"/consents?patient={s.patient.address}&limit=2&offset=2", headers=headers
    ).json()
    (oldest,) = rest["items"]
    assert oldest["consent_id"] == "0x" + consent_id(first).hex()
    assert oldest["superseded"] is True
    assert oldest["active"] is False
    assert page["items"][0]["purpose"] == "referral"
    assert all(i["active"] for i in page["items"])
    assert s.client.get("/consents", headers=headers).json()["error"]["code"] == "missing_filter"


def test_anonymous_and_malformed_requests(api_stack: Stack) -> None:
    s = api_stack
    consent, signature = s.sign_consent(s.patient, grantee=s.gp.address)
    body = {"consent": consent_json(consent), "signature": "0x" + signature.hex()}
    assert s.client.post("/consents", json=body).status_code == 401
    bad_address = dict(body, consent=dict(body["consent"], grantee="0x1234"))
    response = s.client.post("/consents", json=bad_address, headers=s.login(s.patient))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_consent"
    both = dict(
        body, consent=dict(body["consent"], grantee_policy_hash="0x" + policy_hash("a:b").hex())
    )
    response = s.client.post("/consents", json=both, headers=s.login(s.patient))
    assert response.status_code in (400, 422)  # signature no longer matches the fields
    with s.ctx.sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(ConsentRow)) == 0


def test_purpose_by_name_and_revocation_refusals(api_stack: Stack) -> None:
    s = api_stack
    consent, signature = s.sign_consent(s.patient, grantee=s.gp.address, purpose=Purpose.REFERRAL)
    body = {
        "consent": consent_json(consent) | {"purpose": "referral"},
        "signature": "0x" + signature.hex(),
    }
    assert s.client.post("/consents", json=body, headers=s.login(s.patient)).status_code == 201
    any_record = secrets.token_bytes(32)
    chain = s.ctx.chain.consents
    assert chain.is_allowed(
        patient=s.patient.address, grantee=s.gp.address, record_id=any_record, purpose=1
    )
    assert not is_allowed(s, consent, s.gp.address, any_record)  # treatment was not granted
    unknown = dict(body, consent=body["consent"] | {"purpose": "gossip"})
    response = s.client.post("/consents", json=unknown, headers=s.login(s.patient))
    assert response.json()["error"]["code"] == "invalid_purpose"

    head = s.w3.eth.block_number
    now = int(s.w3.eth.get_block("latest")["timestamp"])
    stale = Revocation(
        patient=s.patient.address,
        consent_id=consent_id(consent),
        nonce=consent.nonce + 1,
        deadline=now - 60,
    )
    low_nonce = Revocation(
        patient=s.patient.address,
        consent_id=consent_id(consent),
        nonce=consent.nonce,
        deadline=now + 600,
    )
    for revocation, code in ((stale, "revocation_expired"), (low_nonce, "nonce_used")):
        response = s.client.post(
            "/consents/revocations",
            json={
                "consent": body["consent"],
                "nonce": revocation.nonce,
                "deadline": revocation.deadline,
                "signature": "0x" + sign(s.domain, revocation, s.patient.key).hex(),
            },
            headers=s.login(s.patient),
        )
        assert response.json()["error"]["code"] == code, response.text
    assert s.w3.eth.block_number == head
    assert chain.is_allowed(
        patient=s.patient.address, grantee=s.gp.address, record_id=any_record, purpose=1
    )
    row = index_row(s, consent)
    assert row is not None
    assert row.revoked is False
