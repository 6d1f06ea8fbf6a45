"""Break-glass openings, co-signatures and reviews are the actors' own signed acts (issue 14).

Through the API: an opening or a review signed by anyone but the caller, or for other values
than those sent, is refused (403 ``signer_mismatch``); an expired, far-dated or malformed
signature is refused (422); a replayed opening or review changes nothing (409). A co-signature
is bound to its opening: used for a second opening, or valid for more than an hour, or
expired, it is refused (422 ``invalid_cosignature``) — and the chain refuses the reused one
too when the relayer carries it without the API.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from crypto.signing import BreakGlassCosign, BreakGlassOpen, BreakGlassReview, sign
from ledger_api.chain.emergency import text_hash
from ledger_api.chain.errors import TransactionRevertedError
from storage.models.emergency import BreakGlassEvent
from tests.api.conftest import Stack
from tests.api.signing_writes import new_id, signed_field
from tests.api.support_break_glass import (
    REASON,
    chain_events,
    cosignature,
    open_glass,
    signed_opening,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings() -> dict[str, object]:
    return {"break_glass_daily_cap": 1}


def code(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def opened(stack: Stack) -> int:
    with stack.ctx.sessions() as db:
        rows = db.query(BreakGlassEvent).count()
    events = len(chain_events(stack, "EmergencyAccess", "BreakGlassOpened"))
    assert rows == events
    return events


def test_an_opening_is_the_callers_own_signed_act(api_stack: Stack) -> None:
    s = api_stack
    doctor, patient = s.cardiologist, s.patient.address
    oid = new_id()

    def attempt(signed: dict[str, Any], **body: Any) -> tuple[int, str]:
        fields = {"opening_id": oid, "signed": signed, **body}
        return code(open_glass(s, doctor, fields.pop("patient", patient), **fields))

    # signed by another doctor (who could open it themself, but not in the caller's name)
    by_gp = signed_opening(s, s.gp, opening_id=oid, patient=patient)
    assert attempt(by_gp) == (403, "signer_mismatch")
    # the caller's signature, but of other values than those sent
    mine = signed_opening(s, doctor, opening_id=oid, patient=patient)
    assert attempt(mine, patient=s.other_patient.address) == (403, "signer_mismatch")
    assert attempt(mine, reason=REASON + " (edited)") == (403, "signer_mismatch")
    assert attempt(mine, opening_id=new_id()) == (403, "signer_mismatch")
    assert attempt(mine, window=3600) == (403, "signer_mismatch")
    # expired, far-dated, malformed
    past = signed_opening(s, doctor, opening_id=oid, patient=patient, deadline=int(time.time()) - 5)
    assert attempt(past) == (422, "signature_expired")
    far = int(time.time()) + 30 * 86_400
    assert attempt(signed_opening(s, doctor, opening_id=oid, patient=patient, deadline=far)) == (
        422,
        "deadline_too_far",
    )
    zeros = {"signature": "0x" + "00" * 65, "deadline": int(time.time()) + 600}
    assert attempt(zeros) == (422, "invalid_signature")
    assert attempt({"signature": "0x1234", "deadline": 1}) == (422, "invalid_signature")
    too_long = signed_opening(s, doctor, opening_id=oid, patient=patient, window=25 * 3600)
    assert attempt(too_long, window=25 * 3600)[0] == 422
    assert opened(s) == 0

    # the real one opens once; the same signed request again changes nothing
    assert open_glass(s, doctor, patient, opening_id=oid, signed=mine).status_code == 201
    assert attempt(mine) == (409, "duplicate_id")
    assert opened(s) == 1


def test_a_review_is_the_auditors_own_signed_act(api_stack: Stack) -> None:
    s = api_stack
    opening = open_glass(s, s.gp, s.patient.address).json()
    url = f"/audit/break-glass/{opening['id']}/review"
    note = "Arrest documented in the ED record."
    headers = s.login(s.auditor)

    def review(signer: Any, **changes: Any) -> dict[str, Any]:
        message = BreakGlassReview(
            id=bytes.fromhex(opening["id"][2:]),
            justified=changes.get("justified", True),
            note_hash=text_hash(changes.get("note", note)),
            deadline=changes.get("deadline", int(time.time()) + 600),
        )
        return signed_field(s.ctx, signer, message)

    body = {"justified": True, "note": note}
    for signed, want in (
        (review(s.cardiologist), (403, "signer_mismatch")),  # a doctor's signature
        (review(s.auditor, justified=False), (403, "signer_mismatch")),  # another verdict
        (review(s.auditor, note="something else"), (403, "signer_mismatch")),
        (review(s.auditor, deadline=int(time.time()) - 1), (422, "signature_expired")),
    ):
        answer = s.client.post(url, json={**body, "signed": signed}, headers=headers)
        assert code(answer) == want, answer.text
    assert chain_events(s, "EmergencyAccess", "BreakGlassReviewed") == []

    good = {**body, "signed": review(s.auditor)}
    assert s.client.post(url, json=good, headers=headers).status_code == 200
    assert code(s.client.post(url, json=good, headers=headers)) == (409, "already_reviewed")
    assert len(chain_events(s, "EmergencyAccess", "BreakGlassReviewed")) == 1


def test_a_cosignature_serves_one_opening_for_at_most_an_hour(api_stack: Stack) -> None:
    s = api_stack
    doctor, patient = s.cardiologist, s.patient.address
    assert open_glass(s, doctor, patient).status_code == 201  # the cap (1) is used
    first, second = new_id(), new_id()

    def cosigned(opening_id: str, cosig: dict[str, Any]) -> Any:
        return open_glass(s, doctor, patient, opening_id=opening_id, cosignature=cosig)

    for valid_for in (2 * 3600, 3601, -5):  # longer-lived than an hour, or expired
        cosig = cosignature(s, s.gp, doctor.address, patient, opening_id=first, valid_for=valid_for)
        assert code(cosigned(first, cosig)) == (422, "invalid_cosignature")
    cosig = cosignature(s, s.gp, doctor.address, patient, opening_id=first)
    assert cosigned(first, cosig).status_code == 201
    # the same co-signature for a second opening: refused by the API ...
    answer = cosigned(second, cosig)
    assert code(answer) == (422, "invalid_cosignature")
    assert "another opening" in answer.json()["error"]["message"]
    # ... and by the chain, when a relayer carries it without the API
    emergency = s.ctx.chain.emergency
    message = BreakGlassOpen(
        id=bytes.fromhex(second[2:]),
        patient=patient,
        reason_hash=text_hash(REASON),
        window=3600,
        deadline=int(time.time()) + 600,
    )
    claimed = BreakGlassCosign(
        opening_id=message.id,
        clinician=doctor.address,
        patient=patient,
        reason_hash=message.reason_hash,
        deadline=int(cosig["deadline"]),
    )
    with pytest.raises(TransactionRevertedError) as refused:
        emergency.open_break_glass(
            message,
            sign(emergency.domain(), message, doctor.key),
            cosign=claimed,
            cosignature=bytes.fromhex(cosig["signature"][2:]),
        ).wait()
    assert refused.value.error_name == "EmergencyAccessInvalidCosignature"
    # the first opening again, with its own co-signature: it exists
    assert code(cosigned(first, cosig)) == (409, "duplicate_id")
    assert opened(s) == 2
