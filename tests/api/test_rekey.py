"""``POST /records/{id}/rekey``: header-only rewrap and full re-encryption, end to end.

Real chain, real block store, real index: a rewrap keeps the body and changes the header CID
and policy hash on chain and in the index; a full re-key replaces the body so that a data key
taken from the old header cannot open it; the replaced blocks are unpinned; bad input leaves
chain, store and index exactly as they were; the audit verification stays clean.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from crypto import envelope
from crypto.errors import EnvelopeError
from crypto.policy import policy_hash
from crypto.signing import RecordWithdraw
from storage.models import Record
from tests.api.conftest import Stack

PLAINTEXT = b'{"resourceType":"Observation","status":"final","code":{"text":"BP"}}'


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    """SQLite only: the re-key path does not depend on the dialect (the matrix runs both)."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def key_for(stack: Stack, attributes: list[str]) -> Any:
    """A key for the envelope v2 records of these tests (the test's own key pair)."""
    return stack.v2_user_key(attributes)


def patient_key(stack: Stack) -> Any:
    return key_for(stack, [f"uid:{stack.patient.address.lower()}"])


def cardiologist_key(stack: Stack) -> Any:
    attrs = ["dept:cardiology", "role:doctor", "org:cd3h"]
    return key_for(stack, [*attrs, f"uid:{stack.cardiologist.address.lower()}"])


def share(stack: Stack) -> tuple[str, bytes, bytes]:
    """The cardiologist shares a record (envelope v2, which rewraps under one key) for the
    patient: ``(id, header, body)``."""
    record_id, header, body = stack.make_record_v2(stack.patient, "dept:cardiology", PLAINTEXT)
    answer = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert answer.status_code == 201, answer.text
    return "0x" + record_id.hex(), header, body


def rekey(stack: Stack, who: Any, record_id: str, header: bytes, body: bytes | None = None) -> Any:
    """``POST /records/{id}/rekey`` as ``who``, signed by ``who`` as the SDK signs it."""
    files: dict[str, Any] = {"header": ("header.cbor", header, "application/cbor")}
    if body is not None:
        files["body"] = ("body.bin", body, "application/octet-stream")
    signed = stack.rekey_signed(who, record_id=record_id, header=header, body=body)
    return stack.client.post(
        f"/records/{record_id}/rekey",
        headers=stack.login(who),
        data={"signed": signed},
        files=files,
    )


def row_of(stack: Stack, record_id: str) -> Record:
    with stack.ctx.sessions() as db:
        row = db.get(Record, record_id)
        assert row is not None
        db.expunge(row)
        return row


def chain_version(stack: Stack, record_id: str) -> int:
    return stack.ctx.chain.records.record_of(bytes.fromhex(record_id[2:])).version


def pinned(stack: Stack, cid: str) -> bool:
    return any(str(c) == cid for c in stack.ctx.store.pins())


def verify_clean(stack: Stack) -> dict[str, Any]:
    stack.wait_indexed()
    report = stack.client.get("/audit/verify", headers=stack.login(stack.auditor)).json()
    assert report["ok"] is True, report
    return report


def test_header_only_rewrap_widens_keeps_the_body_and_retains_the_old_header(
    api_stack: Stack,
) -> None:
    """A rewrap that widens access (a department added): allowed as a header-only re-key."""
    stack = api_stack
    record_id, header, body = share(stack)
    before = row_of(stack, record_id)
    mpk = stack.v2_mpk
    policy = f"dept:cardiology or dept:general_practice or uid:{stack.patient.address.lower()}"
    new_header = envelope.rewrap(
        header, user_key=patient_key(stack), new_policy=policy, mpk=mpk
    ).to_bytes()

    answer = rekey(stack, stack.patient, record_id, new_header)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["full"] is False
    assert result["changed"] is True
    record = result["record"]
    assert record["version"] == 2
    assert record["body_cid"] == before.body_cid
    assert record["body_sha256"] == before.body_sha256
    assert record["header_cid"] != before.header_cid
    assert record["policy_hash"] == "0x" + policy_hash(policy).hex()
    assert result["retained_cids"] == [before.header_cid]
    # on chain: the event carries the new header and policy, the version moved
    assert chain_version(stack, record_id) == 2
    events = stack.ctx.chain.records.contract.events.RecordRekeyed.get_logs(
        from_block=stack.deployment.block_number
    )
    assert [(e["args"]["headerCid"], "0x" + e["args"]["policyHash"].hex()) for e in events] == [
        (record["header_cid"], record["policy_hash"])
    ]
    # in the index, also after the indexer replayed the event
    verify_clean(stack)
    after = row_of(stack, record_id)
    assert (after.version, after.header_cid, after.body_cid) == (
        2,
        record["header_cid"],
        before.body_cid,
    )
    # blocks: the old header retained for the audit (never served), body and new header kept
    assert pinned(stack, before.header_cid)
    assert pinned(stack, before.body_cid)
    assert pinned(stack, record["header_cid"])
    served = stack.client.get(f"/records/{record_id}/header", headers=stack.login(stack.patient))
    assert served.content == new_header
    # the patient and the cardiologist still open it
    assert envelope.decrypt_bytes(new_header, body, user_key=patient_key(stack)) == PLAINTEXT
    assert envelope.decrypt_bytes(new_header, body, user_key=cardiologist_key(stack)) == PLAINTEXT
    # the same re-key again (a lost answer): 200, nothing sent twice
    again = rekey(stack, stack.patient, record_id, new_header)
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert chain_version(stack, record_id) == 2


def test_full_rekey_defeats_a_data_key_taken_before(api_stack: Stack) -> None:
    stack = api_stack
    record_id, old_header, old_body = share(stack)
    before = row_of(stack, record_id)
    # the clinician of the author institution may re-key too (here: a full re-encryption)
    _, header, body = stack.make_record_v2(
        stack.patient,
        "dept:general_practice",
        PLAINTEXT,
        record_id=bytes.fromhex(record_id[2:]),
        author=stack.cardiologist,
    )
    answer = rekey(stack, stack.cardiologist, record_id, header, body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    record = result["record"]
    assert result["full"] is True
    assert record["version"] == 2
    assert record["body_cid"] != before.body_cid
    assert record["header_cid"] != before.header_cid
    assert sorted(result["retained_cids"]) == sorted([before.header_cid, before.body_cid])
    assert result["retained_until"] > time.time() + 6 * 365 * 86_400  # kept for the audit
    assert pinned(stack, before.body_cid)
    assert pinned(stack, before.header_cid)
    # the header the cardiologist fetched before opens the old data key, not the new body
    assert envelope.decrypt_bytes(old_header, old_body, user_key=cardiologist_key(stack))
    with pytest.raises(EnvelopeError):
        envelope.decrypt_bytes(old_header, body, user_key=cardiologist_key(stack))
    assert envelope.decrypt_bytes(header, body, user_key=patient_key(stack)) == PLAINTEXT
    # the API serves the new body, whose digest is the one now on chain
    served = stack.client.get(f"/records/{record_id}/body", headers=stack.login(stack.patient))
    assert served.status_code == 200
    assert served.content == body
    assert served.headers["X-Body-Sha256"] == record["body_sha256"]
    verify_clean(stack)
    assert row_of(stack, record_id).body_sha256 == record["body_sha256"]


def test_bad_rekeys_leave_chain_store_and_index_unchanged(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, _ = share(stack)
    before = row_of(stack, record_id)
    pins = set(stack.ctx.store.pins())
    mpk = stack.v2_mpk
    key = patient_key(stack)
    without_patient = envelope.rewrap(
        header, user_key=key, new_policy="dept:general_practice", mpk=mpk
    ).to_bytes()
    fine = envelope.rewrap(header, user_key=key, new_policy=f"uid:{stack.patient.address}", mpk=mpk)
    _, other_header, other_body = stack.make_record_v2(
        stack.patient,
        "dept:cardiology or dept:x",  # a widening, of another body: header_body_mismatch
        b"other " * 9000,
        record_id=bytes.fromhex(record_id[2:]),
    )
    _, elsewhere, _ = stack.make_record_v2(stack.patient, "dept:x", b"bound to another record")
    v1_record, _ = envelope.encrypt_bytes(
        PLAINTEXT, mpk=mpk, policy=f"dept:x or uid:{stack.patient.address.lower()}"
    )

    cases = [
        (stack.patient, record_id, without_patient, None, 422, "policy_excludes_patient"),
        (stack.gp, record_id, fine.to_bytes(), None, 403, "not_record_manager"),
        (stack.other_patient, record_id, fine.to_bytes(), None, 403, "not_record_manager"),
        (stack.auditor, record_id, fine.to_bytes(), None, 403, "not_record_manager"),
        (stack.patient, record_id, b"\xa1\x01\x02", None, 422, "invalid_header"),
        (stack.patient, record_id, other_header, None, 422, "header_body_mismatch"),
        (stack.patient, record_id, fine.to_bytes(), None, 422, "rewrap_narrows"),
        (stack.patient, record_id, elsewhere, None, 422, "envelope_binding"),
        (stack.patient, record_id, v1_record.header_bytes, None, 422, "envelope_version"),
        (stack.patient, record_id, fine.to_bytes(), other_body, 422, "invalid_body"),
        (stack.patient, "0x" + "ab" * 32, fine.to_bytes(), None, 404, "record_not_found"),
        (stack.patient, "0x1234", fine.to_bytes(), None, 422, "invalid_record_id"),
    ]
    for who, target, new_header, body, status, code in cases:
        answer = rekey(stack, who, target, new_header, body)
        assert answer.status_code == status, (code, answer.text)
        assert answer.json()["error"]["code"] == code, answer.text
    no_header = stack.client.post(
        f"/records/{record_id}/rekey",
        headers=stack.login(stack.patient),
        files={"body": ("b", b"x")},
    )
    assert no_header.status_code == 422
    assert no_header.json()["error"]["code"] == "invalid_upload"

    assert chain_version(stack, record_id) == 1
    stack.wait_indexed()
    after = row_of(stack, record_id)
    assert (after.version, after.header_cid, after.body_cid, after.policy_hash) == (
        before.version,
        before.header_cid,
        before.body_cid,
        before.policy_hash,
    )
    assert set(stack.ctx.store.pins()) == pins


def test_verify_checks_the_rekeyed_version_and_withdrawn_records_refuse(
    api_stack: Stack,
) -> None:
    stack = api_stack
    record_id, _, _ = share(stack)
    _, header, body = stack.make_record_v2(
        stack.patient, "dept:general_practice", PLAINTEXT, record_id=bytes.fromhex(record_id[2:])
    )
    answer = rekey(stack, stack.patient, record_id, header, body)
    assert answer.status_code == 200, answer.text
    verify_clean(stack)
    # the index altered after the re-key: verification compares it with the re-keyed version
    with stack.ctx.sessions() as db:
        row = db.get(Record, record_id)
        assert row is not None
        row.body_sha256 = "0x" + "11" * 32
        db.commit()
    report = stack.client.get("/audit/verify", headers=stack.login(stack.auditor)).json()
    assert report["ok"] is False
    assert {(p["key"], p["field"]) for p in report["index_vs_chain"]} == {
        (record_id, "body_sha256")
    }
    # a withdrawn record is not re-keyed
    other, other_header, _ = share(stack)
    records = stack.ctx.chain.records
    withdrawal = RecordWithdraw(
        id=bytes.fromhex(other[2:]), reason_code=1, deadline=int(time.time()) + 600
    )
    records.withdraw(withdrawal, records.sign_as(stack.patient, withdrawal)).wait()
    stack.wait_indexed()
    refused = rekey(stack, stack.patient, other, other_header)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "record_not_active"
