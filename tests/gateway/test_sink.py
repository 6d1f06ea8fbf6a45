"""The MedLedger sink against a real API: held until the patient links a wallet, shared once
(keyed idempotent record ids, a lost acknowledgement repaired), refusals dead-lettered and
replayable."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from eth_account import Account

from clients.gateway.errors import SinkError
from clients.gateway.runtime import Runtime
from clients.gateway.sample.his import seed_his
from clients.gateway.sink.medledger import RECORD_ID_DOMAIN, record_id_for
from clients.sdk import MedLedgerClient
from tests.clients.conftest import LiveStack
from tests.gateway.conftest import His


def runtime_for(his: His, live: LiveStack, account: Any = None, **kw: Any) -> Runtime:
    account = account or live.stack.cardiologist
    return Runtime(his.root, open_client=lambda: MedLedgerClient(live.url, account=account), **kw)


def chart_ids(live: LiveStack, patient: Any) -> list[str]:
    with MedLedgerClient(live.url, account=patient) as client:
        return [r.record_id for r in client.iter_records(patient.address)]


def drain(runtime: Runtime) -> None:
    assert runtime.sink is not None
    for _ in range(20):
        if not runtime.sink.counts().get("pending"):
            return
        runtime.sink.drain()
    raise AssertionError(f"still pending: {runtime.sink.counts()}")


def test_held_until_linked_then_shared_once(sqlite_his: His, live_stack: LiveStack) -> None:
    ids = seed_his(sqlite_his.engine, sqlite_his.tables, patients=2, labs_each=2)
    runtime = runtime_for(sqlite_his, live_stack, with_topics=False)
    sink = runtime.sink
    assert sink is not None
    try:
        assert runtime.run_once() == 4 + 2  # labs and diagnoses
        assert sink.counts() == {"held": 6}
        assert {h["patient_id"] for h in sink.held()} == set(ids)
        patient = live_stack.stack.patient
        assert sink.link(ids[0], patient.address) == 3  # two labs and a diagnosis
        drain(runtime)
        assert sink.counts() == {"held": 3, "shared": 3}
        chart = chart_ids(live_stack, patient)
        expected = {
            "0x" + record_id_for(sink.secret, "his.pjxrmyy", f"his_{t}", k).hex()
            for t, k in [("lab_result", "1"), ("lab_result", "2"), ("diagnosis", "1")]
        }
        assert set(chart) == expected
        assert len(chart) == 3
        # the same rows again (a capture replayed from the start) stage nothing new
        runtime.store.save_checkpoint("his.his_lab_result", None)
        source = runtime.capture_sources()["lab-results"][0]
        assert runtime.gateway.run_source("lab-results", source, once=True) == 4
        assert sink.counts() == {"held": 3, "shared": 3}
        # a lost acknowledgement: MedLedger has the record, our ledger still says pending;
        # sharing again is encrypted afresh (other content): 409, settled as shared
        again = (
            '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
            '"subject":{"reference":"Patient/P000001"}}'
        )
        with runtime.store.tx() as db:
            db.execute(
                "UPDATE shared SET state = 'pending', resource = ? "
                "WHERE key = '1' AND tbl = 'his_lab_result'",
                (again,),
            )
        drain(runtime)
        assert sink.counts() == {"held": 3, "shared": 3}
        assert len(chart_ids(live_stack, patient)) == 3
        # a patient who linked a wallet but never opened it (no key on chain): the rows wait,
        # and say why, instead of cycling through retries
        other_account = Account.create()
        other = other_account.address
        assert sink.link(ids[1], other) == 3
        drain(runtime)
        assert sink.counts() == {"awaiting_key": 3, "shared": 3}
        assert [(a["patient_id"], a["wallet"], a["records"]) for a in sink.awaiting_key()] == [
            (ids[1], other, 3)
        ]
        assert sink.requeue_awaiting() == 0  # too soon: not re-asked on every loop
        assert len(chart_ids(live_stack, other_account)) == 0  # nothing half-written
        with MedLedgerClient(live_stack.url, account=other_account) as wallet:
            wallet.register_patient_key()  # the patient opened their wallet once
        assert sink.requeue_awaiting(older_than=0) == 3
        drain(runtime)
        assert sink.counts() == {"shared": 6}
        assert sink.awaiting_key() == []
        with pytest.raises(SinkError, match="unlink is not supported"):
            sink.link(ids[0], other)
        with pytest.raises(SinkError, match="not a wallet address"):
            sink.link(ids[0], "0x1234")
    finally:
        runtime.stop()


def test_an_outsider_cannot_squat_the_record_ids(sqlite_his: His, live_stack: LiveStack) -> None:
    """Someone who knows how ids are derived, but not the gateway's key, registers a record
    under the id an unkeyed derivation would give: ours is unaffected."""
    seed_his(sqlite_his.engine, sqlite_his.tables, patients=1, labs_each=1)
    runtime = runtime_for(sqlite_his, live_stack, with_topics=False)
    sink = runtime.sink
    assert sink is not None
    try:
        h = hashlib.sha256(RECORD_ID_DOMAIN)
        for part in ("his.pjxrmyy", "his_lab_result", "1"):
            h.update(len(part).to_bytes(4, "big") + part.encode())
        with MedLedgerClient(live_stack.url, account=live_stack.stack.gp) as client:
            client.share_fhir(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "Patient/x"},
                    "effectiveDateTime": dt.date.today().isoformat(),
                },
                patient=live_stack.stack.other_patient.address,
                policy="dept:cardiology",
                record_id=h.digest(),
            )
        sink.link("P000001", live_stack.stack.patient.address)
        runtime.run_once()
        drain(runtime)
        assert sink.counts() == {"shared": 2}
        assert len(chart_ids(live_stack, live_stack.stack.patient)) == 2
    finally:
        runtime.stop()


def test_refused_records_are_dead_lettered_then_replayed(
    sqlite_his: His, live_stack: LiveStack
) -> None:
    """A gateway account MedLedger does not accept as an author: every share is refused (403),
    each row becomes a dead letter with the API's reason; after the fix, replay shares them."""
    seed_his(sqlite_his.engine, sqlite_his.tables, patients=1, labs_each=1)
    stranger = Account.create()
    runtime = runtime_for(sqlite_his, live_stack, account=stranger, with_topics=False)
    assert runtime.sink is not None
    try:
        runtime.sink.link("P000001", live_stack.stack.patient.address)
        runtime.run_once()
        runtime.sink.drain()
        letters = runtime.store.dead_letters()
        assert len(letters) == 2
        assert runtime.sink.counts() == {"refused": 2}
        assert all(d["stage"] == "sink" and "MedLedger refused" in d["reason"] for d in letters)
    finally:
        runtime.stop()
    fixed = runtime_for(sqlite_his, live_stack, with_topics=False)
    try:
        assert all(fixed.gateway.replay(int(d["id"])) for d in letters)
        drain(fixed)
        assert fixed.sink is not None
        assert fixed.sink.counts() == {"shared": 2}
        assert fixed.store.count_dead_letters() == 0
        with pytest.raises(Exception, match="not open"):
            fixed.gateway.replay(int(letters[0]["id"]))
    finally:
        fixed.stop()
