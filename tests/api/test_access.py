"""Reading record content: every attempt decided on chain and logged before any byte.

For each read the test checks the HTTP answer AND that the decision is already on chain
(``AccessLogged`` with accessor, record, purpose, granted flag and reason) and in the index
(the ``access_events`` row of the transaction named in the response) when the response
arrives. Granted content is decrypted as a client would: with the patient's own key, or a key of the
reader's institution's authority (held by the test; the API holds none).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from eth_account.signers.local import LocalAccount

from crypto import envelope
from crypto.policy import normalize, policy_hash
from crypto.signing import Purpose
from ledger_api.services.access import Reason
from storage.models import AccessEvent, Consent
from tests.api.conftest import Stack

PLAINTEXT = json.dumps({"resourceType": "Condition", "code": "I10"}).encode()


def share(stack: Stack, policy: str, plaintext: bytes = PLAINTEXT) -> tuple[str, bytes]:
    record_id, header, body = stack.make_record(stack.patient, policy, plaintext)
    response = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert response.status_code == 201, response.text
    return "0x" + record_id.hex(), record_id


def read(stack: Stack, account: LocalAccount, record_id: str, part: str, **params: Any) -> Any:
    return stack.client.get(
        f"/records/{record_id}/{part}", headers=stack.login(account), params=params
    )


def access_rows(stack: Stack) -> list[AccessEvent]:
    with stack.ctx.sessions() as db:
        return list(db.scalars(sa.select(AccessEvent).order_by(AccessEvent.id)))


def assert_logged(
    stack: Stack,
    response: Any,
    *,
    accessor: LocalAccount,
    record: bytes,
    granted: bool,
    reason: Reason,
    purpose: Purpose = Purpose.TREATMENT,
) -> None:
    """The decision behind ``response`` is on chain and in the index right now."""
    if granted:
        tx_hash = response.headers["X-Access-Tx"]
    else:
        tx_hash = response.json()["error"]["details"]["access_tx"]
    receipt = stack.w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    events = [
        e
        for e in stack.access_logged(from_block=receipt["blockNumber"])
        if e["recordId"] == record and e["accessor"] == accessor.address
    ]
    assert events, "no AccessLogged event for this read"
    last = events[-1]
    assert last["granted"] is granted
    assert last["reasonCode"] == int(reason)
    assert last["purpose"] == int(purpose)
    rows = [r for r in access_rows(stack) if r.tx_hash == tx_hash.lower()]
    assert len(rows) == 1
    assert rows[0].granted is granted
    assert rows[0].accessor == accessor.address.lower()
    assert rows[0].patient == stack.patient.address.lower()


def test_patient_reads_and_decrypts_own_record(api_stack: Stack) -> None:
    stack = api_stack
    record_id, raw_id = share(stack, "dept:cardiology")
    header = read(stack, stack.patient, record_id, "header")
    assert header.status_code == 200, header.text
    assert_logged(
        stack, header, accessor=stack.patient, record=raw_id, granted=True, reason=Reason.SELF
    )
    body = read(stack, stack.patient, record_id, "body")
    assert body.status_code == 200, body.text
    assert (
        body.headers["X-Body-Sha256"]
        == stack.client.get(f"/records/{record_id}", headers=stack.login(stack.patient)).json()[
            "body_sha256"
        ]
    )
    own = stack.patient_key(stack.patient)  # the patient's own slot: no authority involved
    assert envelope.decrypt_bytes_v3(header.content, body.content, patient_key=own) == PLAINTEXT
    assert len([e for e in stack.access_logged() if e["recordId"] == raw_id]) == 2


def test_doctor_without_consent_is_denied_and_logged(api_stack: Stack) -> None:
    stack = api_stack
    record_id, raw_id = share(stack, "dept:cardiology")
    for part in ("header", "body"):
        response = read(stack, stack.gp, record_id, part)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
        assert not response.content.startswith(b"\xa0")  # an error document, not CBOR
        assert_logged(
            stack,
            response,
            accessor=stack.gp,
            record=raw_id,
            granted=False,
            reason=Reason.NO_CONSENT,
        )
    metadata = stack.client.get(f"/records/{record_id}", headers=stack.login(stack.gp))
    assert metadata.status_code == 403


def test_doctor_with_consent_reads_and_decrypts(api_stack: Stack) -> None:
    stack = api_stack
    record_id, raw_id = share(stack, "dept:cardiology")
    stack.grant(stack.patient, stack.cardiologist, record_id=raw_id)
    header = read(stack, stack.cardiologist, record_id, "header")
    body = read(stack, stack.cardiologist, record_id, "body")
    assert header.status_code == 200, header.text
    assert body.status_code == 200, body.text
    for response in (header, body):
        assert_logged(
            stack,
            response,
            accessor=stack.cardiologist,
            record=raw_id,
            granted=True,
            reason=Reason.CONSENT,
        )
    address = stack.cardiologist.address.lower()
    # the key cd3h's own authority issues her (its key pair is the test's, not the API's)
    key = stack.authorities()[stack.cd3h].user_key(
        ["dept:cardiology", "role:doctor", f"uid:{address}"]
    )
    assert (
        envelope.decrypt_bytes_v3(
            header.content, body.content, user_key=key, institution_id=stack.cd3h
        )
        == PLAINTEXT
    )

    # The consent is for treatment: reading for research is another decision, denied.
    research = read(stack, stack.cardiologist, record_id, "body", purpose="research")
    assert research.status_code == 403
    assert_logged(
        stack,
        research,
        accessor=stack.cardiologist,
        record=raw_id,
        granted=False,
        reason=Reason.NO_CONSENT,
        purpose=Purpose.RESEARCH,
    )
    bad = read(stack, stack.cardiologist, record_id, "body", purpose="gossip")
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_purpose"


def test_policy_consent_grants_members_whose_attributes_satisfy_it(api_stack: Stack) -> None:
    stack = api_stack
    record_id, raw_id = share(stack, "dept:cardiology or dept:general_practice")
    text = "role:doctor and org:qyqchc"
    stack.grant(stack.patient, None, grantee_policy_hash=policy_hash(text))
    stack.wait_indexed()
    # The API that relays a policy consent keeps its text (the chain has only the hash).
    with stack.ctx.sessions() as db:
        updated = db.execute(
            sa.update(Consent)
            .where(Consent.grantee_policy_hash == "0x" + policy_hash(text).hex())
            .values(policy_text=normalize(text))
        )
        assert updated.rowcount == 1
        db.commit()
    granted = read(stack, stack.gp, record_id, "body")
    assert granted.status_code == 200, granted.text
    assert_logged(
        stack,
        granted,
        accessor=stack.gp,
        record=raw_id,
        granted=True,
        reason=Reason.POLICY_CONSENT,
    )
    denied = read(stack, stack.cardiologist, record_id, "body")  # org:cd3h does not satisfy it
    assert denied.status_code == 403
    assert_logged(
        stack,
        denied,
        accessor=stack.cardiologist,
        record=raw_id,
        granted=False,
        reason=Reason.NO_CONSENT,
    )


def test_auditor_sees_metadata_but_not_content(api_stack: Stack) -> None:
    stack = api_stack
    record_id, raw_id = share(stack, "dept:cardiology")
    metadata = stack.client.get(f"/records/{record_id}", headers=stack.login(stack.auditor))
    assert metadata.status_code == 200
    assert metadata.json()["record_id"] == record_id
    response = read(stack, stack.auditor, record_id, "body")
    assert response.status_code == 403
    assert_logged(
        stack,
        response,
        accessor=stack.auditor,
        record=raw_id,
        granted=False,
        reason=Reason.NO_CONSENT,
    )


def test_revoked_consent_no_longer_grants(api_stack: Stack) -> None:
    stack = api_stack
    record_id, raw_id = share(stack, "dept:cardiology")
    consent, _ = stack.grant(stack.patient, stack.cardiologist)  # whole chart
    assert read(stack, stack.cardiologist, record_id, "header").status_code == 200
    # a revocation's nonce must be above the consent's (it replaces it for that key)
    revocation, signature = stack.sign_revocation(stack.patient, consent, nonce=consent.nonce + 1)
    stack.ctx.chain.consents.revoke_by_sig(consent, revocation, signature).wait()
    response = read(stack, stack.cardiologist, record_id, "header")
    assert response.status_code == 403
    assert_logged(
        stack,
        response,
        accessor=stack.cardiologist,
        record=raw_id,
        granted=False,
        reason=Reason.NO_CONSENT,
    )


def test_chart_listing_pages_and_filters_by_consent(api_stack: Stack) -> None:
    stack = api_stack
    ids = [share(stack, "dept:cardiology", PLAINTEXT + bytes([i])) for i in range(3)]
    chart = f"/patients/{stack.patient.address}/records"

    own = stack.client.get(chart, headers=stack.login(stack.patient), params={"limit": 2})
    assert own.status_code == 200, own.text
    assert own.json()["total"] == 3
    assert [r["record_id"] for r in own.json()["items"]] == [ids[0][0], ids[1][0]]
    rest = stack.client.get(
        chart, headers=stack.login(stack.patient), params={"offset": 2, "limit": 2}
    )
    assert [r["record_id"] for r in rest.json()["items"]] == [ids[2][0]]

    assert stack.client.get(chart, headers=stack.login(stack.gp)).status_code == 403
    assert stack.client.get(chart).status_code == 401
    audit = stack.client.get(chart, headers=stack.login(stack.auditor))
    assert audit.status_code == 200
    assert audit.json()["total"] == 3

    stack.grant(stack.patient, stack.cardiologist, record_id=ids[1][1])
    one = stack.client.get(chart, headers=stack.login(stack.cardiologist))
    assert one.status_code == 200, one.text
    assert [r["record_id"] for r in one.json()["items"]] == [ids[1][0]]
    stack.grant(stack.patient, stack.cardiologist)  # whole chart
    every = stack.client.get(chart, headers=stack.login(stack.cardiologist))
    assert every.json()["total"] == 3

    # Listing is metadata: no access was logged for it.
    assert stack.access_logged() == []
    bad = stack.client.get(chart, headers=stack.login(stack.patient), params={"limit": 0})
    assert bad.status_code == 422
