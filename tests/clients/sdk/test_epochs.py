"""Member revocation that holds cryptographically: membership epochs, end to end over HTTP.

A cardiologist reads a record, then is removed (or moved to another department). The key
authority advances the epoch on chain; records written afterwards, and old records once
re-keyed, cannot be opened with the key the cardiologist kept — a crypto failure, not only an
API refusal — while the remaining cardiologist's new key opens old- and new-epoch records.
The re-key job re-encrypts exactly the records the leaver fetched and re-wraps the others.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from clients.cli import app
from clients.sdk import MedLedgerClient
from clients.sdk.errors import NotAllowedError
from clients.sdk.policies import parse_record_policy
from clients.sdk.wallet import WalletStore
from crypto.envelope import decrypt_bytes, parse_header
from crypto.errors import EnvelopeError
from crypto.fame_types import UserKey
from crypto.signing import ReadPart
from ledger_api.chain.access_log import AccessLog
from ledger_api.chain.consortium import Role
from tests.clients.conftest import LiveStack
from tests.clients.support import PASSWORD, Cli, ok, runner

ECHO = b"Echocardiogram 2026-11-20: EF 55%, mild mitral regurgitation\n" * 100


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the client side; the index's backends are covered in tests/api."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def raw(client: MedLedgerClient, record_id: str, part: str) -> bytes:
    """The raw header or body bytes as served (the read signed, as the SDK signs it)."""
    kind = ReadPart.HEADER if part == "header" else ReadPart.BODY
    signed = client._signed_read(record_id, kind, "treatment")
    return client._http.send("GET", f"/records/{record_id}/{part}", headers=signed).content


def opens(key: UserKey, header: bytes, body: bytes) -> bool:
    """Whether ``key`` decrypts the record (False on any cryptographic refusal)."""
    try:
        decrypt_bytes(header, body, user_key=key)
    except EnvelopeError:
        return False
    return True


def wait_epoch(client: MedLedgerClient, epoch: int, timeout: float = 15.0) -> None:
    """Until the chain's epoch is ``epoch`` and the watcher has written its index row (it
    writes the row just after the advance is mined, so the chain can be ahead for a moment)."""
    deadline = time.monotonic() + timeout
    while client.key_epochs(fresh=True)[0] < epoch or not any(
        entry["epoch"] == epoch for entry in client.epoch_history()["history"]
    ):
        assert time.monotonic() < deadline, f"the epoch did not reach {epoch}"
        time.sleep(0.1)


def enrol(live: LiveStack, account: LocalAccount, attributes: list[str]) -> None:
    stack = live.stack
    stack.admin_consortium.enrol_member(
        account=account.address,
        institution_id=stack.cd3h,
        role=Role.DOCTOR,
        attributes=attributes,
    ).wait()


def test_removed_doctor_key_cannot_open_what_is_written_or_rekeyed_after_removal(
    live_stack: LiveStack,
) -> None:
    stack = live_stack.stack
    me = stack.patient.address
    colleague = Account.create()
    enrol(live_stack, colleague, ["dept:cardiology"])
    with (
        MedLedgerClient(live_stack.url, account=stack.patient) as patient,
        MedLedgerClient(live_stack.url, account=stack.cardiologist) as leaver,
        MedLedgerClient(live_stack.url, account=colleague) as stays,
    ):
        read = patient.share(ECHO, patient=me, policy="dept:cardiology", record_type="Echo")
        unread = patient.share(b"lipids", patient=me, policy="dept:cardiology", record_type="Lab")
        header = parse_header(raw(patient, read.record_id, "header"))
        parts = parse_record_policy(header.policy)
        assert (parts.user, parts.epoch, parts.patient) == ("dept:cardiology", 1, me.lower())
        patient.grant(grantee=stack.cardiologist.address)
        patient.grant(grantee=colleague.address)
        old_key = leaver.reader_key()
        assert {"dept:cardiology", "epoch:1"} <= old_key.attributes
        assert leaver.fetch_bytes(read.record_id, user_key=old_key) == ECHO
        old_header = raw(leaver, read.record_id, "header")

        stack.admin_consortium.remove_member(account=stack.cardiologist.address).wait()
        wait_epoch(patient, 2)
        # on chain, and in the index with its reason
        events = AccessLog(stack.w3, stack.deployment.address("AccessLog")).contract.events
        advanced = events.EpochAdvanced.get_logs(from_block=stack.deployment.block_number)
        assert [e["args"]["epoch"] for e in advanced] == [2]
        history = patient.epoch_history()
        assert (history["current"], history["floor"]) == (2, 1)
        (entry,) = history["history"]
        assert "member_removed" in entry["reason_text"]
        assert stack.cardiologist.address.lower() in entry["reason_text"].lower()
        # the API gate holds at once
        with pytest.raises(NotAllowedError):
            leaver.fetch_bytes(read.record_id, user_key=old_key)

        new = patient.share(ECHO, patient=me, policy="dept:cardiology", record_type="Echo")
        new_header = raw(patient, new.record_id, "header")
        new_body = raw(patient, new.record_id, "body")
        assert parse_record_policy(parse_header(new_header).policy).epoch == 2
        assert not opens(old_key, new_header, new_body)  # cryptography, not only the API
        # the remaining cardiologist's new key spans the floor to the current epoch
        stays_key = stays.reader_key()
        assert {"epoch:1", "epoch:2", "dept:cardiology"} <= stays_key.attributes
        assert stays.fetch_bytes(unread.record_id, user_key=stays_key) == b"lipids"
        assert stays.fetch_bytes(new.record_id, user_key=stays_key) == ECHO

        current, stale = patient.stale_records(patient=me)
        assert current == 2
        by_id = {s.record_id: s for s in stale}
        assert set(by_id) == {read.record_id, unread.record_id}
        # every stale record is re-keyed in full: a newer epoch narrows the policy (issue 14)
        assert by_id[read.record_id].full is True
        assert by_id[read.record_id].fetched_by == [stack.cardiologist.address.lower()]
        assert by_id[unread.record_id].full is True
        assert by_id[unread.record_id].fetched_by == []

        steps: list[tuple[int, int]] = []
        report = patient.rekey_stale(
            user_key=patient.reader_key(),
            patient=me,
            progress=lambda done, total, _rid: steps.append((done, total)),
        )
        assert steps == [(1, 2), (2, 2)]
        actions = {r.record_id: r.action for r in report.records}
        assert actions == {read.record_id: "re-encrypted", unread.record_id: "re-encrypted"}
        assert patient.record(read.record_id).body_cid != read.body_cid
        assert patient.record(unread.record_id).body_cid != unread.body_cid

        for rid in (read.record_id, unread.record_id):
            h, b = raw(patient, rid, "header"), raw(patient, rid, "body")
            assert parse_record_policy(parse_header(h).policy).epoch == 2
            assert not opens(old_key, h, b)
        # the header the leaver fetched before cannot open the new body either
        assert not opens(old_key, old_header, raw(patient, read.record_id, "body"))
        # nothing references epoch 1 any more: the floor rises, keys drop epoch:1
        assert patient.key_epochs(fresh=True) == (2, 2)
        assert patient.stale_records(patient=me)[1] == []
        fresh = stays.reader_key()
        assert "epoch:2" in fresh.attributes
        assert "epoch:1" not in fresh.attributes
        for rid, text in ((read.record_id, ECHO), (unread.record_id, b"lipids")):
            assert stays.fetch_bytes(rid, user_key=fresh) == text


def test_department_change_closes_the_old_department_after_the_custodian_rekeys(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    me = stack.patient.address
    custodian = Account.create()
    stack.admin_consortium.update_institution(
        institution_id=stack.cd3h, name="成都市第三人民医院", admin=custodian.address
    ).wait()
    enrol(live_stack, custodian, ["dept:administration"])
    cli = Cli(live_stack, tmp_path / "data")
    WalletStore(tmp_path / "data", scrypt_log2_n=10).import_key(
        "custodian", custodian.key.hex(), PASSWORD
    )
    with (
        MedLedgerClient(live_stack.url, account=stack.patient) as patient,
        MedLedgerClient(live_stack.url, account=stack.cardiologist) as mover,
        MedLedgerClient(live_stack.url, account=stack.gp) as gp,
    ):
        authored = mover.share(ECHO, patient=me, policy="dept:cardiology", record_type="Echo")
        header = raw(patient, authored.record_id, "header")
        assert parse_record_policy(parse_header(header).policy).custodian == "cd3h"
        old_key = mover.reader_key()
        body = raw(patient, authored.record_id, "body")
        assert opens(old_key, header, body)

        stack.admin_consortium.update_member(
            account=stack.cardiologist.address, role=Role.DOCTOR, attributes=["dept:oncology"]
        ).wait()
        wait_epoch(patient, 2)
        # the window: until re-keyed, the old key still opens what it could before
        assert opens(old_key, header, body)
        # a stranger to cd3h may not list its stale records
        with pytest.raises(NotAllowedError):
            gp.stale_records(institution="cd3h")

        out = ok(cli("admin", "rekey-epoch", "--institution", "cd3h", wallet="custodian"))
        assert "re-keyed to epoch 2: 0 rewrapped, 1 re-encrypted, 0 failed" in out
        assert authored.record_id in out
        new_header = raw(patient, authored.record_id, "header")
        new_body = raw(patient, authored.record_id, "body")
        assert new_body != body  # a full re-key: a new data key, even though nobody fetched it
        assert not opens(old_key, new_header, new_body)
        assert not opens(old_key, header, new_body)  # the old header's key opens nothing new
        moved_key = mover.reader_key()
        assert "dept:oncology" in moved_key.attributes
        assert "dept:cardiology" not in moved_key.attributes
        assert not opens(moved_key, new_header, new_body)
        # nothing stale is left; the command says so
        out = ok(cli("admin", "rekey-epoch", "--institution", "cd3h", wallet="custodian"))
        assert "nothing to re-key: every record is at epoch 2" in out
        refused = cli("admin", "rekey-epoch", "--institution", "cd3h", wallet="gp")
        assert refused.exit_code != 0
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("error: ")
        assert "not_record_manager" in line
        out = ok(cli("patient", "rekey-stale", wallet="patient"))
        assert "nothing to re-key: every record is at epoch 2" in out
        out = ok(runner.invoke(app, ["admin", "epochs", "--api", live_stack.url]))
        assert "current epoch 2, floor 2" in out
        assert "member_updated" in out
