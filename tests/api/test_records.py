"""``POST /records`` and record metadata through HTTP, on a real stack (anvil, blocks, index).

Every refusal is checked for what it must NOT leave behind: no block file, no index row and
no on-chain record; every success for what it must: the receipt is in before the answer, the
record is on chain with the stored CIDs, the blocks verify and the index row is confirmed.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from crypto import envelope
from crypto.policy import policy_hash
from ledger_api.services.reconciler import find_registration
from storage.models import Record
from tests.api.conftest import Stack

PLAINTEXT = json.dumps({"resourceType": "Observation", "code": "8867-4", "value": 72}).encode()


def block_files(stack: Stack) -> set[Path]:
    return {p for p in (stack.settings.blocks_path / "blocks").rglob("*") if p.is_file()}


def record_rows(stack: Stack) -> list[Record]:
    with stack.ctx.sessions() as db:
        return list(db.scalars(sa.select(Record)))


def on_chain(stack: Stack, record_id: bytes) -> bool:
    return stack.ctx.chain.records.exists(record_id)


def assert_nothing_written(stack: Stack, record_id: bytes, blocks_before: set[Path]) -> None:
    assert block_files(stack) == blocks_before
    assert record_rows(stack) == []
    assert not on_chain(stack, record_id)


def test_upload_happy_path_registers_after_the_receipt(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    response = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert response.status_code == 201, response.text
    view = response.json()
    assert view["record_id"] == "0x" + record_id.hex()
    assert view["state"] == "confirmed"
    assert view["author"] == stack.cardiologist.address
    assert view["author_institution"] == stack.cd3h
    assert view["record_type"] == "Observation"

    # The receipt was in before the answer: the transaction is mined and the record exists.
    receipt = stack.w3.eth.get_transaction_receipt(view["tx_hash"])
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == view["block_number"]
    info = stack.ctx.chain.records.record_of(record_id)
    assert info.patient == stack.patient.address
    assert info.author_institution == stack.cd3h
    event = find_registration(ctx=stack.ctx, record_id=view["record_id"])
    assert event is not None
    assert event.args["bodyCid"] == view["body_cid"]
    assert event.args["headerCid"] == view["header_cid"]
    assert "0x" + event.args["bodyHash"].hex() == view["body_sha256"]
    assert event.args["policyHash"] == policy_hash(
        f"(dept:cardiology) or uid:{stack.patient.address.lower()}"
    )

    # Blocks exist, are pinned, verify, and hold exactly what was uploaded.
    store = stack.ctx.store
    for cid, content in ((view["body_cid"], body), (view["header_cid"], header)):
        assert store.is_pinned(cid)
        assert store.verify(cid) >= 1
        assert b"".join(store.get(cid)) == content

    (row,) = record_rows(stack)
    assert row.state == "confirmed"
    assert row.tx_hash == view["tx_hash"].lower()
    assert row.body_cid == view["body_cid"]


def test_patient_shares_own_record_as_author(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "role:doctor", PLAINTEXT)
    response = stack.upload(
        stack.patient, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert response.status_code == 201, response.text
    assert response.json()["author"] == stack.patient.address
    assert response.json()["author_institution"] == 0
    assert stack.ctx.chain.records.record_of(record_id).author_institution == 0


def test_identical_retry_is_idempotent(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    first = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert first.status_code == 201, first.text
    again = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    registered = stack.ctx.chain.records.contract.events.RecordRegistered.get_logs(
        from_block=stack.deployment.block_number
    )
    assert len(registered) == 1


def test_duplicate_id_with_other_content_is_409(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    first = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert first.status_code == 201, first.text
    blocks = block_files(stack)
    _, header2, body2 = stack.make_record(
        stack.patient, "dept:cardiology", b"other content", record_id=record_id
    )
    second = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header2, body=body2
    )
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "duplicate_record"
    assert block_files(stack) == blocks
    (row,) = record_rows(stack)
    assert row.body_cid == first.json()["body_cid"]
    event = find_registration(ctx=stack.ctx, record_id="0x" + record_id.hex())
    assert event is not None
    assert event.args["bodyCid"] == first.json()["body_cid"]


def test_malformed_header_is_422_and_writes_nothing(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    stack.login(stack.cardiologist)
    before = block_files(stack)
    for bad in (b"", b"\xa1not cbor at all", header[:-5]):
        response = stack.upload(
            stack.cardiologist, record_id=record_id, patient=stack.patient, header=bad, body=body
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_header"
    assert_nothing_written(stack, record_id, before)


def test_malformed_body_is_422_and_writes_nothing(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    _, _, other_body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT + b"xx")
    stack.login(stack.cardiologist)
    before = block_files(stack)
    for bad in (b"", body[:-1], body + b"\x00", other_body):
        response = stack.upload(
            stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=bad
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_body"
    assert_nothing_written(stack, record_id, before)


def test_policy_without_patient_uid_is_422(api_stack: Stack) -> None:
    """An envelope v2 lets the patient in only through its policy (a v3 has their own slot)."""
    stack = api_stack
    record_id, header, body = stack.make_record_v2(
        stack.patient, "dept:cardiology", PLAINTEXT, add_patient_uid=False
    )
    # The uid of someone else does not count either.
    rid2, header2, body2 = stack.make_record_v2(
        stack.patient,
        f"dept:cardiology or uid:{stack.other_patient.address.lower()}",
        PLAINTEXT,
        add_patient_uid=False,
    )
    stack.login(stack.cardiologist)
    before = block_files(stack)
    for rid, hdr, bdy in ((record_id, header, body), (rid2, header2, body2)):
        response = stack.upload(
            stack.cardiologist, record_id=rid, patient=stack.patient, header=hdr, body=bdy
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "policy_excludes_patient"
    assert_nothing_written(stack, record_id, before)
    assert not on_chain(stack, rid2)


def test_an_envelope_bound_elsewhere_or_v1_is_422(api_stack: Stack) -> None:
    """Envelope v2 is required for a new record and must name this record and patient."""
    stack = api_stack
    record_id, _, _ = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    _, other_id_header, other_id_body = stack.make_record(
        stack.patient, "dept:cardiology", PLAINTEXT
    )
    _, other_patient_header, other_patient_body = stack.make_record(
        stack.other_patient,
        f"dept:cardiology or uid:{stack.patient.address.lower()}",
        PLAINTEXT,
        record_id=record_id,
    )
    v1, v1_body = envelope.encrypt_bytes(
        PLAINTEXT,
        mpk=stack.v2_mpk,
        policy=f"dept:cardiology or uid:{stack.patient.address.lower()}",
    )
    before = block_files(stack)
    for header, body, code in (
        (other_id_header, other_id_body, "envelope_binding"),
        (other_patient_header, other_patient_body, "envelope_binding"),
        (v1.header_bytes, v1_body, "envelope_version"),
    ):
        response = stack.upload(
            stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
    assert_nothing_written(stack, record_id, before)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("record_id", "0x1234"),
        ("record_id", "0x" + "00" * 32),
        ("patient", "0xnot-an-address"),
        ("record_type", "x" * 32),
        ("record_type", ""),
        ("unexpected", 1),
    ],
)
def test_bad_metadata_is_422(api_stack: Stack, change: str, value: object) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    metadata = {
        "record_id": "0x" + record_id.hex(),
        "patient": stack.patient.address,
        "record_type": "Observation",
        change: value,
    }
    headers = stack.login(stack.cardiologist)
    before = block_files(stack)
    response = stack.client.post(
        "/records",
        headers=headers,
        data={"metadata": json.dumps(metadata)},
        files={"header": ("h", header), "body": ("b", body)},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_metadata"
    assert_nothing_written(stack, record_id, before)


def test_missing_parts_and_wrong_media_type(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, _ = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    headers = stack.login(stack.cardiologist)
    metadata = json.dumps(
        {"record_id": "0x" + record_id.hex(), "patient": stack.patient.address, "record_type": "X"}
    )
    response = stack.client.post(
        "/records", headers=headers, data={"metadata": metadata}, files={"header": ("h", header)}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["missing"] == ["body"]
    response = stack.client.post("/records", headers=headers, json={"metadata": metadata})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert record_rows(stack) == []


def test_only_clinicians_or_the_patient_may_share(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    for account in (stack.other_patient, stack.auditor):
        stack.login(account)
    before = block_files(stack)
    for account in (stack.other_patient, stack.auditor):
        response = stack.upload(
            account, record_id=record_id, patient=stack.patient, header=header, body=body
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "not_author"
    anonymous = stack.client.post("/records", files={"header": ("h", header), "body": ("b", body)})
    assert anonymous.status_code == 401
    assert_nothing_written(stack, record_id, before)


def test_naming_another_author_is_403(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    metadata = {
        "record_id": "0x" + record_id.hex(),
        "patient": stack.patient.address,
        "record_type": "Observation",
        "author": stack.gp.address,
    }
    response = stack.client.post(
        "/records",
        headers=stack.login(stack.cardiologist),
        data={"metadata": json.dumps(metadata)},
        files={"header": ("h", header), "body": ("b", body)},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "author_mismatch"
    assert not on_chain(stack, record_id)


def test_unknown_record_is_404_and_logs_nothing(api_stack: Stack) -> None:
    stack = api_stack
    headers = stack.login(stack.cardiologist)
    unknown = "0x" + secrets.token_hex(32)
    head = stack.w3.eth.block_number
    for path in (f"/records/{unknown}", f"/records/{unknown}/header", f"/records/{unknown}/body"):
        response = stack.client.get(path, headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert stack.w3.eth.block_number == head
    assert stack.access_logged() == []
    response = stack.client.get("/records/0x12", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_record_id"
