"""Issue 14, attack 2 through the API: 20 simultaneous break-glass openings by one doctor with
a daily cap of 3 and no co-signature.

The API's pre-check of the cap is raced on purpose: a hook holds every request after it passed
every check of the API (the count then is 0 for all 20) until all 20 are there, so each one
is sent. The chain, which counts openings per clinician per day, lets exactly 3 through and
refuses the other 17 (429 ``break_glass_cap``, from ``EmergencyAccessCapReached``); afterwards
the pre-check answers the 21st itself, and a co-signed opening still opens.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ledger_api.hooks import Hooks
from storage.models.emergency import BreakGlassEvent
from tests.api.conftest import Stack
from tests.api.signing_writes import new_id
from tests.api.support_break_glass import REASON, chain_events, chain_now, cosignature, open_glass
from tests.support import run_together

RACERS = 20
CAP = 3
_arrived: list[bytes] = []
_barrier = threading.Barrier(RACERS, timeout=60)


def _hold(opening_id: bytes) -> None:
    """Every racer waits here, past the API's checks, until all of them are."""
    _arrived.append(opening_id)
    if len(_arrived) <= RACERS:
        _barrier.wait()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings() -> dict[str, object]:
    return {"break_glass_daily_cap": CAP}


@pytest.fixture
def stack_hooks() -> Hooks:
    _arrived.clear()
    _barrier.reset()
    return Hooks(before_break_glass_sent=_hold)


def test_racing_openings_past_the_cap_are_refused_by_the_chain(api_stack: Stack) -> None:
    s = api_stack
    doctor, patient = s.cardiologist, s.patient.address
    assert s.ctx.chain.emergency.daily_cap() == CAP
    s.login(doctor)  # the session exists before the race

    answers = run_together(RACERS, lambda i: open_glass(s, doctor, patient))

    assert all(not isinstance(a, BaseException) for a in answers), answers
    assert len(_arrived) == RACERS  # every one passed the API's pre-check
    statuses = sorted(a.status_code for a in answers)  # type: ignore[union-attr]
    assert statuses == [201] * CAP + [429] * (RACERS - CAP), [a.text for a in answers]  # type: ignore[union-attr]
    for refused in (a for a in answers if a.status_code == 429):  # type: ignore[union-attr]
        error = refused.json()["error"]
        assert error["code"] == "break_glass_cap"
        assert error["details"]["error"] == "EmergencyAccessCapReached"  # the chain's refusal
    opened = chain_events(s, "EmergencyAccess", "BreakGlassOpened")
    assert len(opened) == CAP
    assert s.ctx.chain.emergency.openings_on(doctor.address, chain_now(s) // 86_400) == CAP
    with s.ctx.sessions() as db:
        assert db.query(BreakGlassEvent).count() == CAP

    # the pre-check answers the next one itself; a second doctor's co-signature opens it
    again = open_glass(s, doctor, patient)
    assert again.status_code == 429
    assert again.json()["error"]["details"] == {"today": CAP, "cap": CAP}
    oid = new_id()
    cosig = cosignature(s, s.gp, doctor.address, patient, opening_id=oid, reason=REASON)
    cosigned = open_glass(s, doctor, patient, opening_id=oid, cosignature=cosig)
    assert cosigned.status_code == 201, cosigned.text
    assert len(chain_events(s, "EmergencyAccess", "BreakGlassOpened")) == CAP + 1
