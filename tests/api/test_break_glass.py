"""Break-glass through the real API: a doctor opens one patient's chart with a reason, reads
its ciphertexts with ``purpose=emergency`` and not another patient's (on chain:
BreakGlassOpened, AccessLogged granted), the patient sees it at once, an auditor reviews it on
chain and it leaves the queue; refusals write nothing; the daily cap needs a second doctor's
co-signature. The API issues no emergency key (the route is gone): a record's emergency slot
opens only with t of n authorities' shares (``tests/authority/test_emergency_threshold.py``)."""

from __future__ import annotations

import pytest

from ledger_api.chain.emergency import text_hash
from storage.models.emergency import BreakGlassEvent
from tests.api.conftest import Stack
from tests.api.signing_writes import new_id
from tests.api.support_break_glass import (
    REASON,
    chain_events,
    cosignature,
    open_glass,
    share,
)

EMERGENCY, BREAK_GLASS, NO_BREAK_GLASS = 3, 4, 12


@pytest.fixture
def stack_settings() -> dict[str, object]:
    return {"break_glass_daily_cap": 1}


def read(stack: Stack, account, record_id: bytes, part: str, purpose: str = "emergency"):
    return stack.client.get(
        f"/records/0x{record_id.hex()}/{part}",
        params={"purpose": purpose},
        headers=stack.login(account),
    )


def test_emergency_access_opens_one_patient_is_logged_and_reviewed(api_stack: Stack) -> None:
    s = api_stack
    plaintext = b'{"resourceType":"AllergyIntolerance","code":"penicillin"}'
    record_id, sent_header, _ = share(s, s.patient, plaintext)
    other_id, _, _ = share(s, s.other_patient, b'{"resourceType":"X"}')

    # no consent, no opening: an emergency read is denied (and logged as such)
    assert read(s, s.gp, record_id, "header").status_code == 403
    denied = [e for e in s.access_logged() if e["accessor"] == s.gp.address]
    assert [(e["granted"], e["purpose"], e["reasonCode"]) for e in denied] == [
        (False, EMERGENCY, NO_BREAK_GLASS)
    ]

    opened = open_glass(s, s.gp, s.patient.address)
    assert opened.status_code == 201, opened.text
    opening = opened.json()
    assert opening["open"] is True
    assert opening["reason"] == REASON
    assert opening["expires_at"] - opening["opened_at"] == 4 * 3600
    [event] = chain_events(s, "EmergencyAccess", "BreakGlassOpened")
    assert "0x" + event["id"].hex() == opening["id"]
    assert event["clinician"] == s.gp.address
    assert event["patient"] == s.patient.address
    assert event["reasonHash"] == text_hash(REASON)
    assert event["expiresAt"] == opening["expires_at"]

    no_key = s.client.post(f"/break-glass/{opening['id']}/key", headers=s.login(s.gp), json={})
    assert no_key.status_code in (404, 405)  # the API holds no key to issue
    assert [e for e in chain_events(s, "AccessLog", "KeyIssued")] == []

    header = read(s, s.gp, record_id, "header")
    body = read(s, s.gp, record_id, "body")
    assert header.status_code == 200, header.text
    assert body.status_code == 200
    assert header.content == sent_header  # the ciphertext, as uploaded
    granted = [e for e in s.access_logged() if e["accessor"] == s.gp.address and e["granted"]]
    assert {(e["purpose"], e["reasonCode"]) for e in granted} == {(EMERGENCY, BREAK_GLASS)}
    assert len(granted) == 2

    # another patient's chart: the API refuses
    assert read(s, s.gp, other_id, "header").status_code == 403
    # the emergency purpose is not a treatment consent: a plain read stays refused
    assert read(s, s.gp, record_id, "header", purpose="treatment").status_code == 403

    # the patient sees the opening at once; another patient may not look
    mine = s.client.get(f"/patients/{s.patient.address}/break-glass", headers=s.login(s.patient))
    assert mine.status_code == 200
    assert [(i["id"], i["clinician"], i["reason"]) for i in mine.json()["items"]] == [
        (opening["id"], s.gp.address, REASON)
    ]
    assert (
        s.client.get(
            f"/patients/{s.patient.address}/break-glass", headers=s.login(s.other_patient)
        ).status_code
        == 403
    )

    # the auditors' queue, the review on chain, and the queue without it
    queue = s.client.get(
        "/audit/break-glass", params={"reviewed": "false"}, headers=s.login(s.auditor)
    )
    assert [i["id"] for i in queue.json()["items"]] == [opening["id"]]
    note = "Cardiac arrest documented in the ED record; access justified."
    reviewed = s.client.post(
        f"/audit/break-glass/{opening['id']}/review",
        json={"justified": True, "note": note},
        headers=s.login(s.auditor),
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["reviewed"] is True
    assert reviewed.json()["justified"] is True
    assert reviewed.json()["review_note"] == note
    [review] = chain_events(s, "EmergencyAccess", "BreakGlassReviewed")
    assert (review["auditor"], review["justified"], review["noteHash"]) == (
        s.auditor.address,
        True,
        text_hash(note),
    )
    queue = s.client.get(
        "/audit/break-glass", params={"reviewed": "false"}, headers=s.login(s.auditor)
    )
    assert queue.json()["items"] == []
    done = s.client.get(
        "/audit/break-glass", params={"reviewed": "true"}, headers=s.login(s.auditor)
    )
    assert [i["id"] for i in done.json()["items"]] == [opening["id"]]
    again = s.client.post(
        f"/audit/break-glass/{opening['id']}/review",
        json={"justified": False, "note": "second thoughts"},
        headers=s.login(s.auditor),
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_reviewed"


def test_refusals_write_nothing(api_stack: Stack) -> None:
    s = api_stack
    for who in (s.patient, s.other_patient, s.auditor, s.admin):
        answer = open_glass(s, who, s.patient.address)
        assert answer.status_code == 403, (who.address, answer.text)
    short = open_glass(s, s.gp, s.patient.address, reason="urgent")
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "invalid_reason"
    bad = open_glass(s, s.gp, "0x1234", reason=REASON)
    assert bad.status_code == 422
    own = open_glass(s, s.gp, s.gp.address)
    assert own.status_code == 422
    assert chain_events(s, "EmergencyAccess", "BreakGlassOpened") == []
    with s.ctx.sessions() as db:
        assert db.query(BreakGlassEvent).count() == 0
    # an auditor may not open, a doctor may not review
    opened = open_glass(s, s.gp, s.patient.address).json()
    refused = s.client.post(
        f"/audit/break-glass/{opened['id']}/review",
        json={"justified": True, "note": "self-review"},
        headers=s.login(s.cardiologist),
    )
    assert refused.status_code == 403


def test_daily_cap_needs_a_second_doctors_cosignature(api_stack: Stack) -> None:
    s = api_stack
    doctor, patient = s.cardiologist, s.patient.address
    assert s.ctx.chain.emergency.daily_cap() == 1  # set on chain from the setting
    assert open_glass(s, doctor, patient).status_code == 201
    capped = open_glass(s, doctor, patient)
    assert capped.status_code == 429
    assert capped.json()["error"]["code"] == "break_glass_cap"
    assert capped.json()["error"]["details"] == {"today": 1, "cap": 1}

    oid = new_id()

    def refused(cosig: dict[str, object]) -> None:
        answer = open_glass(s, doctor, patient, opening_id=oid, cosignature=cosig)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "invalid_cosignature"

    refused(cosignature(s, doctor, doctor.address, patient, opening_id=oid))  # own
    refused(cosignature(s, s.gp, doctor.address, s.other_patient.address, opening_id=oid))
    refused(cosignature(s, s.auditor, doctor.address, patient, opening_id=oid))  # not a doctor
    refused(cosignature(s, s.gp, doctor.address, patient, opening_id=new_id()))  # other opening
    refused(cosignature(s, s.gp, doctor.address, patient, opening_id=oid, reason="other reason"))
    assert len(chain_events(s, "EmergencyAccess", "BreakGlassOpened")) == 1

    good = cosignature(s, s.gp, doctor.address, patient, opening_id=oid)
    cosigned = open_glass(s, doctor, patient, opening_id=oid, cosignature=good)
    assert cosigned.status_code == 201, cosigned.text
    assert cosigned.json()["id"] == oid
    assert cosigned.json()["co_signer"] == s.gp.address
    events = chain_events(s, "EmergencyAccess", "BreakGlassOpened")
    assert [e["coSigner"] for e in events] == ["0x" + "00" * 20, s.gp.address]
