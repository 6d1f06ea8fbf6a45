"""The demo's gateway part: a new lab result in the county hospital's embedded SQLite HIS
appears in the patient's MedLedger chart and timeline."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account

from clients.gateway.demo import county_lab_result
from clients.sdk import MedLedgerClient
from ledger_api.chain.consortium import Role
from tests.clients.conftest import LiveStack


def test_new_lab_result_reaches_the_chart(tmp_path: Path, live_stack: LiveStack) -> None:
    """Shared by the institution's gateway account (the GATEWAY role: a system account, not a
    clinician), which the chain names as each record's author."""
    patient = live_stack.stack.patient
    gateway = Account.create()
    live_stack.stack.admin_consortium.enrol_member(
        account=gateway.address, institution_id=live_stack.stack.qyqchc, role=Role.GATEWAY
    ).wait()
    first = county_lab_result(
        tmp_path,
        medledger_url=live_stack.url,
        gateway_account=gateway,
        patient_wallet=patient.address,
    )
    assert first.shared == 3  # the earlier result and diagnosis, then the new troponin
    assert first.observation["code"]["coding"][0]["code"] == "10839-9"
    assert first.observation["interpretation"][0]["coding"][0]["code"] == "H"
    second = county_lab_result(
        tmp_path,
        medledger_url=live_stack.url,
        gateway_account=gateway,
        patient_wallet=patient.address,
    )
    assert second.shared == 1
    assert second.record_id != first.record_id
    with MedLedgerClient(live_stack.url, account=patient) as client:
        chart = [r.record_id for r in client.iter_records(patient.address)]
        timeline = {i.record_id: i for i in client.iter_timeline(patient.address)}
    assert {first.record_id, second.record_id} <= set(chart)
    assert len(chart) == 4
    with MedLedgerClient(live_stack.url, account=patient) as client:
        assert client.record(second.record_id).author == gateway.address
    newest = timeline[second.record_id]
    assert newest.record_type == "Observation"
    assert newest.may_open
    assert newest.date == second.observation["effectiveDateTime"]  # ordered by clinical date
