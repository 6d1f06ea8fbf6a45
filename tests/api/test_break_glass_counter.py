"""The break-glass counter through the real API: ``GET /patients/{p}/break-glass/count`` (who
may read it), and the emergency key of opening ``j`` carrying ``bg:<floor>`` … ``bg:<j-1>``:
it opens what was written before it was opened and not what was written after (``bg:<j>``),
which the next opening's key opens; never another patient's record."""

from __future__ import annotations

import pytest

from crypto import envelope
from crypto.errors import EnvelopeAccessDeniedError, PolicyNotSatisfied
from tests.api.conftest import Stack
from tests.api.support_break_glass import emergency_key, open_glass, share

SHUT = (EnvelopeAccessDeniedError, PolicyNotSatisfied)


def count(stack: Stack, who, patient: str):
    return stack.client.get(f"/patients/{patient}/break-glass/count", headers=stack.login(who))


def test_each_opening_key_opens_only_what_was_written_before_it(api_stack: Stack) -> None:
    s = api_stack
    p = s.patient.address
    # who learns the count: the patient, clinicians (they encrypt for the chart), auditors
    for who in (s.patient, s.gp, s.cardiologist, s.auditor):
        answer = count(s, who, p)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"patient": p, "count": 0}
    assert count(s, s.other_patient, p).status_code == 403
    assert count(s, s.patient, "0x1234").status_code == 422

    _, before_h, before_b = share(s, s.patient, b"before", break_glass=0)
    _, other_h, other_b = share(s, s.other_patient, b"other", break_glass=0)

    first = open_glass(s, s.gp, p).json()
    assert count(s, s.patient, p).json()["count"] == 1
    answer, key1 = emergency_key(s, s.gp, first["id"])
    assert answer.status_code == 200, answer.text
    assert "bg:0" in answer.json()["attributes"]
    assert "bg:1" not in answer.json()["attributes"]
    assert envelope.decrypt_bytes(before_h, before_b, user_key=key1) == b"before"

    # written after opening 1, with the count then (1): opening 1's key is shut out
    _, after_h, after_b = share(s, s.patient, b"after", break_glass=1)
    with pytest.raises(SHUT):
        envelope.decrypt_bytes(after_h, after_b, user_key=key1)

    second = open_glass(s, s.cardiologist, p).json()
    assert count(s, s.gp, p).json()["count"] == 2
    answer, key2 = emergency_key(s, s.cardiologist, second["id"])
    assert answer.status_code == 200, answer.text
    # the floor is 0 (the record written before opening 1 is still at bg:0)
    assert sorted(a for a in answer.json()["attributes"] if a.startswith("bg:")) == [
        "bg:0",
        "bg:1",
    ]
    assert envelope.decrypt_bytes(after_h, after_b, user_key=key2) == b"after"
    assert envelope.decrypt_bytes(before_h, before_b, user_key=key2) == b"before"
    # never another patient's record, whatever the counter
    for key in (key1, key2):
        with pytest.raises(SHUT):
            envelope.decrypt_bytes(other_h, other_b, user_key=key)
    assert count(s, s.other_patient, s.other_patient.address).json()["count"] == 0
