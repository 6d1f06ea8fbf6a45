"""Membership epochs on a real stack: the advance on chain and in the index, its idempotency,
and the epoch attributes of issued keys (``docs/key-epochs.md``)."""

from __future__ import annotations

import hashlib
import time

import pytest
import sqlalchemy as sa
from eth_account import Account

from crypto import envelope
from crypto.errors import EnvelopeAccessDeniedError
from crypto.keys import load_master_public_key
from ledger_api.chain.access_log import AccessLog
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.relayer import Relayer
from ledger_api.services import epoch_watcher
from storage.models import AuthorityEpoch, EpochTrigger
from tests.api.conftest import ADMIN_KEY, Stack
from tests.api.test_keys import issue


def wait_epoch(stack: Stack, epoch: int, timeout: float = 15.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        body = stack.client.get("/keys/public").json()
        if body["epoch"] >= epoch:
            return body
        assert time.monotonic() < deadline, f"epoch {body['epoch']}, waiting for {epoch}"
        time.sleep(0.1)


def test_suspension_advances_the_epoch_on_chain_and_in_the_index_once(api_stack: Stack) -> None:
    s = api_stack
    assert (
        s.client.get("/keys/public").json()["epoch"],
        s.ctx.chain.access_log.current_epoch(),
    ) == (1, 1)
    _, before = issue(s, s.cardiologist)
    assert "epoch:1" in before.attributes

    mined = s.admin_consortium.suspend_member(account=s.gp.address).wait()
    body = wait_epoch(s, 2)
    assert body["floor"] == 2  # no record uses epoch 1
    assert s.ctx.chain.access_log.current_epoch() == 2
    log = AccessLog(s.w3, s.deployment.address("AccessLog"))
    (event,) = log.contract.events.EpochAdvanced.get_logs(from_block=s.deployment.block_number)
    with s.ctx.sessions() as db:
        row = db.get(AuthorityEpoch, 2)
        assert row is not None
        triggers = db.scalars(sa.select(EpochTrigger)).all()
    assert [(t.kind, t.account, t.epoch) for t in triggers] == [
        ("member_suspended", s.gp.address.lower(), 2)
    ]
    assert triggers[0].block_number == mined.block_number
    assert row.reason_text is not None
    assert s.gp.address.lower() in row.reason_text
    assert row.reason == "0x" + hashlib.sha256(row.reason_text.encode()).hexdigest()
    assert row.reason == "0x" + bytes(event["args"]["reason"]).hex()
    assert row.tx_hash == "0x" + event["transactionHash"].hex()
    history = s.client.get("/keys/epochs").json()
    assert [h["epoch"] for h in history["history"]] == [2]

    # nothing pending: no second advance; a crash after the advance was mined but before the
    # triggers were marked is repaired from the chain, not by advancing again
    assert epoch_watcher.advance_pending(s.ctx) is None
    with s.ctx.sessions.begin() as db:
        db.execute(sa.update(EpochTrigger).values(epoch=None))
    redo = epoch_watcher.advance_pending(s.ctx)
    assert redo is not None
    assert (redo.epoch, redo.tx_hash) == (2, row.tx_hash)
    assert s.ctx.chain.access_log.current_epoch() == 2
    assert (
        len(log.contract.events.EpochAdvanced.get_logs(from_block=s.deployment.block_number)) == 1
    )

    # keys: the suspended GP gets none, the cardiologist's carries epoch 2 only, the patient
    # keeps uid only
    refused = s.client.post(
        "/keys/issue",
        json={"x25519_public_key": "A" * 43 + "="},
        headers=s.login(s.gp),
    )
    assert refused.status_code == 403
    answer, after = issue(s, s.cardiologist)
    assert answer["epoch"] == 2
    assert {a for a in after.attributes if a.startswith("epoch:")} == {"epoch:2"}
    _, patient_key = issue(s, s.patient)
    assert patient_key.attributes == {f"uid:{s.patient.address.lower()}"}

    # a key of epoch 1 does not open what is encrypted for epoch 2
    mpk = load_master_public_key(s.mpk_bytes)
    record, body_bytes = envelope.encrypt_bytes(
        b"ecg", mpk=mpk, policy="dept:cardiology and epoch:2"
    )
    assert envelope.decrypt_bytes(record.header_bytes, body_bytes, user_key=after) == b"ecg"
    with pytest.raises(EnvelopeAccessDeniedError):
        envelope.decrypt_bytes(record.header_bytes, body_bytes, user_key=before)


def test_only_the_relayer_advances_and_only_by_one(api_stack: Stack) -> None:
    s = api_stack
    access_log = s.ctx.chain.access_log
    with pytest.raises(TransactionRevertedError, match="AccessLogInvalidEpoch"):
        access_log.log_epoch_advanced(epoch=3, reason=b"\x01" * 32).wait()
    outsider = AccessLog(s.w3, s.deployment.address("AccessLog"), sender=Relayer(s.w3, ADMIN_KEY))
    with pytest.raises(TransactionRevertedError, match="AccessLogUnauthorized"):
        outsider.log_epoch_advanced(epoch=2, reason=b"\x01" * 32).wait()
    assert access_log.current_epoch() == 1


def test_custodian_goes_only_to_an_admin_who_is_a_clinician_there(api_stack: Stack) -> None:
    """Issue 14, attack 7: the consortium admin administers both institutions but is not a
    clinician of either: no ``custodian:`` (and, as a non-member, no epochs) in their key.
    An active doctor of cd3h made its admin gets ``custodian:cd3h`` and nothing else."""
    s = api_stack
    answer, key = issue(s, s.admin)
    assert not {a for a in key.attributes if a.startswith(("custodian:", "epoch:"))}
    assert answer["epoch"] == 1
    s.admin_consortium.update_institution(
        institution_id=s.cd3h, name="成都市第三人民医院", admin=s.cardiologist.address
    ).wait()
    s.ctx.principals.clear()
    s.wait_indexed()
    _, custodian_key = issue(s, s.cardiologist)
    assert {a for a in custodian_key.attributes if a.startswith("custodian:")} == {"custodian:cd3h"}
    stranger = Account.create()
    listed = s.client.get(
        "/keys/epochs/stale", params={"institution": "cd3h"}, headers=s.login(stranger)
    )
    assert listed.status_code == 403
    assert listed.json()["error"]["code"] == "not_record_manager"
    both = s.client.get(
        "/keys/epochs/stale",
        params={"institution": "cd3h", "patient": s.patient.address},
        headers=s.login(s.patient),
    )
    assert both.status_code == 422
    own = s.client.get(
        "/keys/epochs/stale", params={"patient": s.patient.address}, headers=s.login(s.patient)
    )
    assert own.status_code == 200
    assert own.json() == {"current": 1, "items": []}
