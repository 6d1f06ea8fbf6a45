"""One referral up and back, and one consultation, on PostgreSQL (when the run has one).

The state-machine tables run on SQLite only; this smoke test proves the same services,
index writes (the indexer's upserts from the receipt) and queries on the server database.
Without ``MEDLEDGER_TEST_POSTGRES_URL`` it runs on SQLite, so it never skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Stack
from tests.api.test_consultations import (
    AUDIENCE,
    FOR_GP,
    consultation_body,
    open_consultation,
    opine,
)
from tests.api.test_referrals import DEPT_POLICY, act, create, referral_body
from tests.api.workflow_support import enrol_cast, read, share
from tests.conftest import postgres_url
from tests.storage.conftest import empty_database


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL when the run has one, else SQLite: one backend is enough for a smoke test."""
    with empty_database("postgres" if postgres_url() else "sqlite", tmp_path) as url:
        yield url


def test_referral_and_consultation_round_trip(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    assert s.settings.database_url.startswith("postgresql" if postgres_url() else "sqlite")
    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    rid = create(s, referral_body(s, reason_id=reason_id, record_ids=[]))["referral_id"]
    assert read(s, s.cardiologist, reason_id, "referral").status_code == 200
    assert act(s, s.cardiologist, rid, "accept").status_code == 200
    summary_id, _ = share(s, s.cardiologist, "org:qyqchc")
    assert act(s, s.gp, rid, "cancel").status_code == 409
    done = act(s, s.cardiologist, rid, "complete", {"summary_record_id": summary_id})
    assert done.status_code == 200, done.text
    assert [h["state"] for h in done.json()["history"]] == ["requested", "accepted", "completed"]
    assert read(s, s.cardiologist, reason_id, "referral").status_code == 403
    assert read(s, s.gp, summary_id, "referral").status_code == 200
    page = s.client.get("/referrals", params={"state": "completed"}, headers=s.login(s.gp))
    assert [i["referral_id"] for i in page.json()["items"]] == [rid]

    question_id, _ = share(s, s.gp, AUDIENCE)
    cid = open_consultation(s, consultation_body(s, question_id=question_id, record_ids=[]))[
        "consultation_id"
    ]
    opinion_id, _ = share(s, cast.county_cardiologist, FOR_GP)
    assert opine(s, cast.county_cardiologist, cid, opinion_id).status_code == 201
    s.wait_indexed()
    shown = s.client.get(f"/consultations/{cid}", headers=s.login(s.gp)).json()
    assert shown["opinion_count"] == 1
    assert [o["record_id"] for o in shown["opinions"]] == [opinion_id]
