"""Member revocation that holds cryptographically: per-institution epochs, end to end over HTTP.

A cardiologist reads a record, then is removed (or moved to another department). That moves
*her institution's* membership epoch on chain (``Consortium``), and no other institution's;
records written afterwards carry the new epoch in that institution's slot, and old records once
re-keyed too, so the key she kept opens none of them — a crypto failure, not only an API
refusal — while a remaining cardiologist's new key (from the same institution's authority)
opens old- and new-epoch records. The patient's wallet re-keys their chart with their own key.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from clients.cli import app
from clients.sdk import MedLedgerClient
from clients.sdk.authorities import MemberKey
from clients.sdk.errors import ClientError, NotAllowedError
from crypto.envelope import HeaderV3, decrypt_bytes_v3, parse_header
from crypto.errors import EnvelopeError
from crypto.signing import ReadPart
from ledger_api.chain.consortium import Role
from tests.clients.conftest import LiveStack
from tests.clients.support import Cli, ok, runner

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


def opens(key: MemberKey, header: bytes, body: bytes) -> bool:
    """Whether ``key`` decrypts the record (False on any cryptographic refusal)."""
    try:
        decrypt_bytes_v3(header, body, user_key=key.key, institution_id=key.institution)
    except EnvelopeError:
        return False
    return True


def slot_epochs(header: bytes) -> dict[int, int]:
    parsed = parse_header(header)
    assert isinstance(parsed, HeaderV3)
    return {slot.institution_id: slot.epoch for slot in parsed.slots}


def wait_epoch(client: MedLedgerClient, institution: int, epoch: int) -> None:
    """Until ``institution``'s epoch on chain is ``epoch`` (the client's node may lag)."""
    deadline = time.monotonic() + 15
    while client.institution_epochs()[institution][0] < epoch:
        assert time.monotonic() < deadline, f"institution {institution} did not reach {epoch}"
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
        before = patient.institution_epochs()
        assert before[stack.cd3h] == (1, 1)
        assert slot_epochs(raw(patient, read.record_id, "header")) == {
            stack.cd3h: 1,
            stack.qyqchc: 1,
        }
        patient.grant(grantee=stack.cardiologist.address)
        patient.grant(grantee=colleague.address)
        old_key = leaver.fetch_member_key()
        assert old_key.institution == stack.cd3h
        assert {"dept:cardiology", "epoch:1"} <= set(old_key.attributes)
        assert leaver.fetch_bytes(read.record_id, user_key=old_key) == ECHO
        old_header = raw(leaver, read.record_id, "header")

        stack.admin_consortium.remove_member(account=stack.cardiologist.address).wait()
        wait_epoch(patient, stack.cd3h, 2)
        after = patient.institution_epochs()
        assert after[stack.qyqchc] == before[stack.qyqchc]  # only her institution's epoch moved
        events = stack.admin_consortium.contract.events.EpochAdvanced.get_logs(
            from_block=stack.deployment.block_number
        )
        moved = [(e["args"]["institutionId"], e["args"]["epoch"]) for e in events]
        assert moved[-1] == (stack.cd3h, 2)
        assert e_reason(events[-1]) == stack.cardiologist.address.lower()
        # the API gate holds as soon as its index has the removal (a block or two)
        deadline = time.monotonic() + 15
        while True:
            try:
                leaver.fetch_bytes(read.record_id, user_key=old_key)
            except NotAllowedError:
                break
            assert time.monotonic() < deadline, "the API still serves a removed member"
            time.sleep(0.2)
        # and her institution's authority issues her nothing any more
        with pytest.raises(ClientError, match="no institution's member"):
            leaver.fetch_member_key()
        with pytest.raises(ClientError, match="authority refused"):
            leaver.fetch_member_key(institution=stack.cd3h)

        new = patient.share(ECHO, patient=me, policy="dept:cardiology", record_type="Echo")
        new_header = raw(patient, new.record_id, "header")
        new_body = raw(patient, new.record_id, "body")
        assert slot_epochs(new_header) == {stack.cd3h: 2, stack.qyqchc: 1}
        assert not opens(old_key, new_header, new_body)  # cryptography, not only the API
        # the remaining cardiologist's new key spans the floor to the current epoch
        stays_key = stays.fetch_member_key()
        assert {"epoch:1", "epoch:2", "dept:cardiology"} <= set(stays_key.attributes)
        assert stays.fetch_bytes(unread.record_id, user_key=stays_key) == b"lipids"
        assert stays.fetch_bytes(new.record_id, user_key=stays_key) == ECHO

        current, stale = patient.stale_records(patient=me)
        assert current[stack.cd3h] == 2
        by_id = {s.record_id: s for s in stale}
        assert set(by_id) == {read.record_id, unread.record_id}  # not the new one
        assert by_id[read.record_id].stale == {stack.cd3h: (1, 2)}

        steps: list[tuple[int, int]] = []
        report = patient.rekey_stale(  # the patient's own key: no authority involved
            patient=me, progress=lambda done, total, _rid: steps.append((done, total))
        )
        assert steps == [(1, 2), (2, 2)]
        actions = {r.record_id: r.action for r in report.records}
        assert actions == {read.record_id: "re-encrypted", unread.record_id: "re-encrypted"}
        assert report.epochs[stack.cd3h] == 2
        assert patient.record(read.record_id).body_cid != read.body_cid
        for rid in (read.record_id, unread.record_id):
            h, b = raw(patient, rid, "header"), raw(patient, rid, "body")
            assert slot_epochs(h)[stack.cd3h] == 2
            assert not opens(old_key, h, b)
        # the header the leaver fetched before cannot open the new body either
        assert not opens(old_key, old_header, raw(patient, read.record_id, "body"))
        assert patient.stale_records(patient=me)[1] == []
        # nothing of cd3h references epoch 1 any more: its admin raises the floor, and the
        # keys its authority issues from now on drop epoch:1
        stack.admin_consortium.raise_epoch_floor(institution_id=stack.cd3h, floor=2).wait()
        assert patient.institution_epochs()[stack.cd3h] == (2, 2)
        fresh = stays.fetch_member_key()
        assert "epoch:2" in fresh.attributes
        assert "epoch:1" not in fresh.attributes
        for rid, text in ((read.record_id, ECHO), (unread.record_id, b"lipids")):
            assert stays.fetch_bytes(rid, user_key=fresh) == text


def e_reason(event: object) -> str:
    return str(event["args"]["reason"]).lower()  # type: ignore[index]


def test_department_change_closes_the_old_department_once_the_chart_is_rekeyed(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    """Through the command line as a patient and an administrator would: ``admin epochs``
    shows the moved institution's epoch, ``patient rekey-stale`` re-keys the chart."""
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "data")
    me = stack.patient.address
    with (
        MedLedgerClient(live_stack.url, account=stack.patient) as patient,
        MedLedgerClient(live_stack.url, account=stack.cardiologist) as mover,
        MedLedgerClient(live_stack.url, account=stack.gp) as gp,
    ):
        authored = mover.share(ECHO, patient=me, policy="dept:cardiology", record_type="Echo")
        header = raw(patient, authored.record_id, "header")
        assert "custodian:cd3h" in parse_header(header).policy  # its institution may re-key
        old_key = mover.fetch_member_key()
        body = raw(patient, authored.record_id, "body")
        assert opens(old_key, header, body)

        stack.admin_consortium.update_member(
            account=stack.cardiologist.address, role=Role.DOCTOR, attributes=["dept:oncology"]
        ).wait()
        wait_epoch(patient, stack.cd3h, 2)
        # the window: until re-keyed, the old key still opens what it could before
        assert opens(old_key, header, body)
        # one institution's records across charts are not listed (each chart is its patient's)
        with pytest.raises(ClientError, match="each patient's wallet re-keys"):
            gp.stale_records(patient=me, institution="cd3h")

        epochs = ok(runner.invoke(app, ["admin", "epochs", "--api", live_stack.url]))
        row = next(line for line in epochs.splitlines() if " cd3h " in line)
        cells = [cell.strip() for cell in row.split("│") if cell.strip()]
        assert cells[1:4] == ["cd3h", "2", "1"]  # code, epoch, floor
        out = ok(cli("patient", "rekey-stale", wallet="patient"))
        assert "1 re-encrypted, 0 failed" in out
        assert authored.record_id in out
        new_header = raw(patient, authored.record_id, "header")
        new_body = raw(patient, authored.record_id, "body")
        assert new_body != body  # a full re-key: a new data key, even though nobody fetched it
        assert not opens(old_key, new_header, new_body)
        assert not opens(old_key, header, new_body)  # the old header's key opens nothing new
        moved_key = mover.fetch_member_key()
        assert "dept:oncology" in moved_key.attributes
        assert "dept:cardiology" not in moved_key.attributes
        assert not opens(moved_key, new_header, new_body)
        # the author's seal was carried over: the patient reads the same content
        assert patient.fetch_bytes(authored.record_id) == ECHO
        out = ok(cli("patient", "rekey-stale", wallet="patient"))
        assert "nothing to re-key: every record is at its institution's epoch" in out
