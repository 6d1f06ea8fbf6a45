"""``/audit/verify`` resumed by block range finds exactly what one pass finds.

A history with something wrong in every section (tampered rows of several kinds, a forged
read, a grant citing nothing, a corrupt body) is verified once over the whole range, then
again piece by piece: through the API with ``from_block``/``to_block`` a few blocks at a
time, and through the service with a time budget so small that every call stops after one
chunk and the next continues from ``last_block_checked + 1``. The problems and the counts
must be the same.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from eth_account import Account

from ledger_api.services.access import Reason
from ledger_api.services.audit.report import SECTIONS
from ledger_api.services.audit.verification import verify_range
from storage.models import AccessEvent, Referral
from tests.api.audit_support import PLAINTEXT, entry, log_entries, make_workflows, verify
from tests.api.conftest import Stack


def _problems(reports: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {
        name: sorted(json.dumps(p, sort_keys=True) for r in reports for p in r[name])
        for name in SECTIONS
    }


def _checked(reports: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for report in reports:
        for name, count in report["checked"].items():
            total[name] = total.get(name, 0) + count
    return total


def _spoil(s: Stack) -> None:
    """Something wrong in every section, spread over the range."""
    w = make_workflows(s)
    record_id, header, body = s.make_record(s.other_patient, "dept:cardiology", PLAINTEXT)
    response = s.upload(
        s.gp, record_id=record_id, patient=s.other_patient, header=header, body=body
    )
    assert response.status_code == 201, response.text
    record = "0x" + record_id.hex()
    log_entries(
        s,
        [
            entry(s, s.patient, w.record, reason=int(Reason.SELF), signer=Account.create()),
            entry(s, s.gp, record, reason=int(Reason.CONSENT), justification=os.urandom(32)),
        ],
    )
    with s.ctx.sessions.begin() as db:
        referral = db.get(Referral, w.referral)
        assert referral is not None
        referral.state = "cancelled"
        first = db.scalars(sa.select(AccessEvent).order_by(AccessEvent.id).limit(1)).one()
        first.purpose = 4
    (stored,) = [p for p in Path(s.settings.blocks_path).rglob("*.data") if p.read_bytes() == body]
    stored.write_bytes(b"x" + body[1:])


def test_resuming_by_block_range_finds_what_one_pass_finds(api_stack: Stack) -> None:
    s = api_stack
    _spoil(s)
    whole = verify(s)
    assert whole["complete"] is True
    assert whole["ok"] is False
    assert all(whole[name] for name in SECTIONS), whole  # every section has something
    start, end = whole["from_block"], whole["to_block"]

    pieces = []
    for low in range(start, end + 1, 3):
        piece = verify(s, f"?from_block={low}&to_block={min(low + 2, end)}")
        assert piece["complete"] is True
        assert piece["last_block_checked"] == min(low + 2, end)
        pieces.append(piece)
    assert _problems(pieces) == _problems([whole])
    assert _checked(pieces) == whole["checked"]


def test_a_call_out_of_time_stops_at_a_chunk_and_the_next_continues(api_stack: Stack) -> None:
    s = api_stack
    _spoil(s)
    whole = verify(s)
    start, end = whole["from_block"], whole["to_block"]
    parts: list[dict[str, Any]] = []
    low = start
    with s.ctx.sessions() as db:
        while True:
            report = verify_range(
                w3=s.w3,
                deployment=s.deployment,
                store=s.ctx.store,
                db=db,
                start=low,
                end=end,
                budget_seconds=0,
                max_blocks=4,
            ).as_dict()
            parts.append(report)
            assert report["chunks"] == 1
            if report["complete"]:
                break
            assert report["ok"] is False  # incomplete is never ok
            assert report["stopped_because"] == "time_budget"
            assert report["last_block_checked"] >= low
            low = report["last_block_checked"] + 1
    assert len(parts) > 3
    assert parts[-1]["last_block_checked"] == end
    assert _problems(parts) == _problems([whole])
    assert _checked(parts) == whole["checked"]


def test_a_call_with_enough_problems_stops_and_the_rest_follows(api_stack: Stack) -> None:
    """The report is bounded too: past the problem limit a call stops at the end of its
    chunk (with every problem of that chunk) and names where; continuing finds the rest."""
    s = api_stack
    _spoil(s)
    whole = verify(s)
    parts: list[dict[str, Any]] = []
    low = whole["from_block"]
    with s.ctx.sessions() as db:
        while not parts or not parts[-1]["complete"]:
            parts.append(
                verify_range(
                    w3=s.w3,
                    deployment=s.deployment,
                    store=s.ctx.store,
                    db=db,
                    start=low,
                    end=whole["to_block"],
                    max_blocks=4,
                    max_problems=1,
                ).as_dict()
            )
            low = parts[-1]["last_block_checked"] + 1
    stopped = [p for p in parts if not p["complete"]]
    assert stopped
    assert {p["stopped_because"] for p in stopped} == {"problem_limit"}
    assert all(p["ok"] is False for p in parts[:-1])
    assert _problems(parts) == _problems([whole])
    assert _checked(parts) == whole["checked"]
