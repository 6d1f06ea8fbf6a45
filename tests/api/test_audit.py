"""``/audit``: the access log (filters, paging, who may ask) and index/store verification.

A small but complete history is made through the API itself — uploads, granted and denied
reads, a relayed consent, a key issuance — then the index and the block store are tampered
with directly (as an attacker with database or disk access would) and the verification
must name each change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from eth_account.signers.local import LocalAccount

from crypto.policy import attributes_hash
from crypto.signing import RecordWithdraw
from ledger_api.chain.consortium import Consortium
from ledger_api.chain.relayer import Relayer
from storage.models import AccessEvent, Record
from tests.api.conftest import Stack
from tests.api.test_consents import relay

PLAINTEXT = b'{"resourceType": "Observation", "valueQuantity": {"value": 120}}'


@dataclass
class History:
    records: list[str]  # 0x ids: two of the patient's, one of the other patient's
    bodies: list[bytes]
    head: int


def read(stack: Stack, account: LocalAccount, record_id: str) -> int:
    return stack.client.get(f"/records/{record_id}/body", headers=stack.login(account)).status_code


def make_history(s: Stack) -> History:
    ids, bodies = [], []
    for author, patient in (
        (s.cardiologist, s.patient),
        (s.cardiologist, s.patient),
        (s.gp, s.other_patient),
    ):
        record_id, header, body = s.make_record(patient, "dept:cardiology", PLAINTEXT)
        response = s.upload(author, record_id=record_id, patient=patient, header=header, body=body)
        assert response.status_code == 201, response.text
        ids.append("0x" + record_id.hex())
        bodies.append(body)
    assert read(s, s.patient, ids[0]) == 200  # own record: granted
    assert read(s, s.gp, ids[0]) == 403  # no consent: denied, logged
    consent, signature = s.sign_consent(s.patient, grantee=s.gp.address)
    assert relay(s, consent, signature).status_code == 201
    assert read(s, s.gp, ids[1]) == 200  # consent: granted
    assert read(s, s.other_patient, ids[2]) == 200
    # cd3h's authority logs a key it issued the cardiologist, from its own signer account
    signer = s.authorities()[s.cd3h].signer
    sender = Relayer(s.w3, "0x" + bytes(signer.key).hex())
    authority = Consortium(s.w3, s.deployment.address("Consortium"), sender=sender)
    attributes = ("dept:cardiology", "epoch:1", "org:cd3h", "role:doctor")
    authority.log_key_issued(
        holder=s.cardiologist.address, attributes_hash=attributes_hash(attributes), epoch=1
    ).wait()
    return History(records=ids, bodies=bodies, head=s.wait_indexed())


def events(s: Stack, query: str = "", account: LocalAccount | None = None) -> dict[str, Any]:
    response = s.client.get(f"/audit/access-events{query}", headers=s.login(account or s.auditor))
    assert response.status_code == 200, response.text
    return response.json()


def test_access_events_filters_paging_and_roles(api_stack: Stack) -> None:
    s = api_stack
    h = make_history(s)
    everything = events(s)
    assert everything["total"] == 4
    assert everything["total"] == len(s.access_logged())  # the index mirrors the chain
    items = everything["items"]
    positions = [(i["block_number"], i["log_index"]) for i in items]
    assert positions == sorted(positions, reverse=True)

    denied = events(s, "?granted=false")["items"]
    assert [(i["accessor"], i["record_id"], i["reason_code"]) for i in denied] == [
        (s.gp.address, h.records[0], 10)
    ]
    by_gp = events(s, f"?accessor={s.gp.address}")["items"]
    assert {(i["record_id"], i["granted"]) for i in by_gp} == {
        (h.records[0], False),
        (h.records[1], True),
    }
    assert events(s, f"?patient={s.other_patient.address}")["total"] == 1
    assert events(s, f"?patient={s.patient.address}&granted=true")["total"] == 2
    assert events(s, f"?record={h.records[1]}")["items"][0]["accessor"] == s.gp.address

    first, second = events(s, "?limit=2"), events(s, "?limit=2&offset=2")
    assert first["items"] + second["items"] == items
    newest_time = items[0]["block_time"]
    assert events(s, f"?since={newest_time + 1}")["total"] == 0
    assert events(s, f"?until={newest_time + 1}")["total"] == 4
    assert events(s, f"?since={newest_time}")["total"] >= 1

    assert events(s, account=s.admin)["total"] == 4  # the consortium admin may audit too
    for who in (s.cardiologist, s.patient):
        denied_call = s.client.get("/audit/access-events", headers=s.login(who))
        assert denied_call.status_code == 403
        assert s.client.get("/audit/verify", headers=s.login(who)).status_code == 403
    assert s.client.get("/audit/access-events").status_code == 401
    bad = s.client.get("/audit/access-events?accessor=0x12", headers=s.login(s.auditor))
    assert bad.status_code == 422


def verify(s: Stack, query: str = "") -> dict[str, Any]:
    response = s.client.get(f"/audit/verify{query}", headers=s.login(s.auditor))
    assert response.status_code == 200, response.text
    return response.json()


def test_verify_on_a_clean_system_finds_nothing(api_stack: Stack) -> None:
    s = api_stack
    make_history(s)
    report = verify(s)
    assert report["ok"] is True, report
    assert report["index_vs_chain"] == []
    assert report["bodies"] == []
    assert report["complete"] is True
    assert report["last_block_checked"] == report["to_block"]
    assert report["read_signatures"] == []
    assert report["justifications"] == []
    assert report["checked"] == {
        "records": 3,
        "consents": 1,
        "revocations": 0,
        "access_events": 4,
        "key_issuances": 1,
        "referrals": 0,
        "consultations": 0,
        "workflow_transitions": 0,
        "opinions": 0,
        "institutions": 2,  # the demo consortium's two
        "members": 4,  # the API relayer, the cardiologist, the GP and the auditor
        "break_glass_openings": 0,
        "read_signatures": 4,  # every entry, granted or denied
        "justifications": 3,  # every grant: two own reads and one by consent
        "bodies": 3,
    }
    assert report["indexed_to"] >= report["to_block"]
    bad = s.client.get("/audit/verify?from_block=10&to_block=5", headers=s.login(s.auditor))
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_range"


def test_verify_reports_a_tampered_and_a_deleted_index_row(api_stack: Stack) -> None:
    s = api_stack
    h = make_history(s)
    forged_hash = "0x" + "ab" * 32
    with s.ctx.sessions.begin() as db:
        db.execute(
            sa.update(Record)
            .where(Record.record_id == h.records[1])
            .values(body_sha256=forged_hash)
        )
        victim = db.scalars(sa.select(AccessEvent).where(AccessEvent.granted.is_(False))).one()
        deleted = f"{victim.tx_hash}:{victim.log_index}"
        db.delete(victim)
        db.add(
            AccessEvent(
                record_id=h.records[2],
                accessor=s.cardiologist.address,
                purpose=0,
                granted=True,
                reason_code=1,
                block_number=h.head,
                block_time=0,
                tx_hash="0x" + "cd" * 32,
                log_index=7,
            )
        )
    report = verify(s)
    assert report["ok"] is False
    problems = {(p["kind"], p["key"], p["problem"]) for p in report["index_vs_chain"]}
    assert problems == {
        ("record", h.records[1], "field_mismatch"),
        ("access_event", deleted, "missing_in_index"),
        ("access_event", "0x" + "cd" * 32 + ":7", "not_on_chain"),
    }
    (tampered,) = [p for p in report["index_vs_chain"] if p["kind"] == "record"]
    assert tampered["field"] == "body_sha256"
    assert tampered["index"] == forged_hash
    assert report["bodies"] == []  # the store still matches the chain's digest


def _block_file(root: Path, content: bytes) -> Path:
    (path,) = [p for p in root.rglob("*.data") if p.read_bytes() == content]
    return path


def test_verify_reports_corrupt_and_missing_blocks(api_stack: Stack) -> None:
    s = api_stack
    h = make_history(s)
    root = s.settings.blocks_path
    corrupt = _block_file(root, h.bodies[0])
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    _block_file(root, h.bodies[2]).unlink()
    report = verify(s)
    assert report["index_vs_chain"] == []
    found = {(p["record_id"], p["problem"]) for p in report["bodies"]}
    assert found == {(h.records[0], "body_corrupt"), (h.records[2], "body_missing")}
    # Limiting the range to blocks before the first upload checks no records at all.
    early = verify(
        s, f"?from_block={s.deployment.block_number}&to_block={s.deployment.block_number}"
    )
    assert early["bodies"] == []
    assert early["checked"]["bodies"] == 0


def test_verify_checks_a_withdrawal_reached_the_index(api_stack: Stack) -> None:
    s = api_stack
    h = make_history(s)
    records = s.ctx.chain.records
    withdrawal = RecordWithdraw(
        id=bytes.fromhex(h.records[1][2:]), reason_code=3, deadline=int(time.time()) + 600
    )
    records.withdraw(withdrawal, records.sign_as(s.cardiologist, withdrawal)).wait()
    s.wait_indexed()
    assert verify(s)["ok"] is True
    with s.ctx.sessions.begin() as db:
        db.execute(
            sa.update(Record).where(Record.record_id == h.records[1]).values(status="active")
        )
    report = verify(s)
    assert [(p["key"], p["field"], p["chain"], p["index"]) for p in report["index_vs_chain"]] == [
        (h.records[1], "status", "withdrawn", "active")
    ]
