"""End to end: a record written with the assistant is shared through the SDK like any record
(real stack: anvil, the API over uvicorn, block store, index), and the patient reads it back."""

from __future__ import annotations

import json

import pytest

from clients.assistant.errors import RecordFormError
from clients.assistant.records.share import share_record
from clients.sdk import MedLedgerClient
from tests.assistant.test_records import valid_form
from tests.clients.conftest import LiveStack
from tests.clients.support import wait_indexed


def test_the_gp_shares_the_record_and_the_patient_reads_it(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    patient_address = stack.patient.address
    form = valid_form(patient_id=patient_address, author_id=stack.gp.address)
    with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
        info = share_record(gp, form, patient=patient_address, policy="dept:general_practice")
        assert info.record_type == "Bundle"
        assert info.patient == patient_address
        assert info.author == stack.gp.address
        with pytest.raises(RecordFormError, match="cc-no-duration"):
            share_record(
                gp,
                {**form, "chief_complaint": "头晕"},
                patient=patient_address,
                policy="dept:general_practice",
            )
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        wait_indexed(stack)
        listed = patient.list_records(patient_address).items
        assert [r.record_id for r in listed] == [info.record_id]  # the refused form sent nothing
        document = json.loads(
            patient.fetch_bytes(info.record_id)  # the patient's own key
        )
    assert document["type"] == "document"
    composition = document["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    codes = [
        e["resource"]["code"]["coding"][0]["code"]
        for e in document["entry"]
        if e["resource"]["resourceType"] == "Condition"
    ]
    assert codes == ["I10", "R42"]
