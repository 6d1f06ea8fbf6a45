"""The epoch floor from the ``records.epoch`` column (issue 17: O(1), no header reads).

The API stores each record's epoch at upload; rows it did not derive (indexed from another
node, re-keyed, or older than migration 0010) are filled once from their headers; after that
``GET /keys/public`` reads no header at all: the test removes the header blocks and the
floor does not move.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledger_api.services import epochs
from storage.models import Record
from tests.api.conftest import Stack
from tests.api.test_epochs import wait_epoch


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


def test_the_floor_is_read_from_the_column_not_from_headers(api_stack: Stack) -> None:
    s = api_stack
    first = _share(s, "dept:cardiology and epoch:1")
    s.wait_indexed()
    s.admin_consortium.suspend_member(account=s.gp.address).wait()
    wait_epoch(s, 2)
    epochs.forget_floor(s.ctx)
    assert s.client.get("/keys/public").json()["floor"] == 1  # the record still uses epoch 1

    # an indexed row with no epoch yet (another node received it) is filled once from its
    # header; then no header is read again: drop the cache and delete every header block
    with s.ctx.sessions.begin() as db:
        db.execute(sa.update(Record).values(epoch=None))
    epochs.forget_floor(s.ctx)
    assert s.client.get("/keys/public").json()["floor"] == 1
    assert _epochs(s) == {first: 1}
    epochs._HEADER_EPOCHS.clear()
    with s.ctx.sessions() as db:
        cids = list(db.scalars(sa.select(Record.header_cid)))
    for cid in cids:
        s.ctx.store.unpin(cid)
    s.ctx.store.gc()
    epochs.forget_floor(s.ctx)
    assert s.client.get("/keys/public").json()["floor"] == 1

    # withdrawing the only epoch-1 record raises the floor to the current epoch
    with s.ctx.sessions.begin() as db:
        db.execute(sa.update(Record).values(status="withdrawn"))
    epochs.forget_floor(s.ctx)
    assert s.client.get("/keys/public").json()["floor"] == 2


def test_an_unreadable_header_is_left_for_later_not_guessed(api_stack: Stack) -> None:
    s = api_stack
    record = _share(s, "dept:cardiology and epoch:1")
    s.wait_indexed()
    with s.ctx.sessions() as db:
        cid = db.scalar(sa.select(Record.header_cid))
    with s.ctx.sessions.begin() as db:
        db.execute(sa.update(Record).values(epoch=None))
    epochs._HEADER_EPOCHS.clear()
    s.ctx.store.unpin(cid)
    s.ctx.store.gc()
    with s.ctx.sessions.begin() as db:
        assert epochs.fill_record_epochs(s.ctx, db) == 0
    assert _epochs(s) == {record: None}
