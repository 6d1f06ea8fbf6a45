"""The ``records.epoch`` column: the lowest epoch a record's policy names, stored at upload.

(The floor it fed belonged to the former global epoch; each institution's floor is now on
chain, ``Consortium.authorityOf``.)
"""

from __future__ import annotations

import sqlalchemy as sa

from ledger_api.services import epochs
from storage.models import Record
from tests.api.conftest import Stack


def _share(s: Stack, policy: str, *, add_patient_uid: bool = True) -> str:
    record_id, header, body = s.make_record(
        s.patient, policy, b"{}", add_patient_uid=add_patient_uid
    )
    answer = s.upload(s.patient, record_id=record_id, patient=s.patient, header=header, body=body)
    assert answer.status_code in (200, 201), answer.text
    return "0x" + record_id.hex()


def _epochs(s: Stack) -> dict[str, int | None]:
    with s.ctx.sessions() as db:
        return {rid: e for rid, e in db.execute(sa.select(Record.record_id, Record.epoch))}


def test_the_api_stores_each_records_epoch_at_upload(api_stack: Stack) -> None:
    s = api_stack
    member = _share(s, "dept:cardiology and epoch:1")
    old = _share(s, "dept:cardiology")  # names no epoch: stale for members
    own = _share(s, f"uid:{s.patient.address.lower()}", add_patient_uid=False)
    s.wait_indexed()
    assert _epochs(s) == {member: 1, old: epochs.NO_EPOCH, own: epochs.PATIENT_ONLY}
