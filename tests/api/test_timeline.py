"""``GET /patients/{address}/timeline``: records of every institution and workflow events.

One chart, four records (the patient's own, the cardiologist's, two of the GP — one the reason
of a referral to cd3h cardiology, one without a clinical date) and a referral that cd3h
accepts. The patient sees all of it, open, in clinical order with the referral's transitions
interleaved; the cardiologist only the record consented to them and the referral's reason
(through the referral), plus the referral's events; the GP only the referral's events; an
auditor every item, none open; another patient is refused. Runs on every backend.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from crypto.signing import Purpose, sign
from storage.models import Record
from tests.api.conftest import Stack
from tests.api.test_referrals import act, create, referral_body


def upload(
    stack: Stack,
    author: Any,
    policy: str,
    *,
    record_date: str | None,
    record_type: str = "Observation",
) -> str:
    """Encrypt and upload a record of the stack's patient with a clinical date; its id."""
    record_id, header, body = stack.make_record(
        stack.patient, policy, b'{"resourceType":"X"}', author=author
    )
    registration = stack.registration(
        record_id=record_id,
        patient=stack.patient.address,
        header=header,
        body=body,
        record_type=record_type,
    )
    signature = sign(stack.registry_domain, registration, author.key)
    metadata: dict[str, Any] = {
        "record_id": "0x" + record_id.hex(),
        "patient": stack.patient.address,
        "record_type": record_type,
        "deadline": registration.deadline,
        "signature": "0x" + signature.hex(),
    }
    if record_date is not None:
        metadata["record_date"] = record_date
    response = stack.client.post(
        "/records",
        headers=stack.login(author),
        data={"metadata": json.dumps(metadata)},
        files={"header": ("h", header, "application/cbor"), "body": ("b", body, "x/y")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["record_date"] == record_date
    return "0x" + record_id.hex()


def timeline(stack: Stack, who: Any, **params: Any) -> Any:
    return stack.client.get(
        f"/patients/{stack.patient.address}/timeline", headers=stack.login(who), params=params
    )


def keys(items: list[dict[str, Any]]) -> list[str]:
    """Each item as ``record:<id>`` or ``referral:<event>``, in the order given."""
    return [
        f"record:{i['record_id']}" if i["kind"] == "record" else f"{i['kind']}:{i['state']}"
        for i in items
    ]


def test_timeline_per_caller(api_stack: Stack) -> None:
    s = api_stack
    own = upload(s, s.patient, "dept:neurology", record_date="2024-01-10", record_type="Note")
    cardio = upload(
        s, s.cardiologist, "org:cd3h and dept:cardiology", record_date="2026-03-05T09:00:00+08:00"
    )
    reason = upload(
        s, s.gp, "org:cd3h and dept:cardiology", record_date="2025-06", record_type="Referral"
    )
    undated = upload(s, s.gp, "org:qyqchc", record_date=None, record_type="Encounter")
    s.grant(s.patient, s.cardiologist, record_id=bytes.fromhex(cardio[2:]))
    rid = create(s, referral_body(s, reason_id=reason, record_ids=[]))["referral_id"]
    assert act(s, s.cardiologist, rid, "accept").status_code == 200
    log_before = len(s.access_logged())

    # --- the patient: everything, open, newest first; the undated record by registration
    # time, just before the referral made after it; then clinical dates
    answer = timeline(s, s.patient)
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["total"] == 6
    assert keys(page["items"]) == [
        "referral:accepted",
        "referral:requested",
        f"record:{undated}",
        f"record:{cardio}",
        f"record:{reason}",
        f"record:{own}",
    ]
    by_id = {i["record_id"]: i for i in page["items"] if i["kind"] == "record"}
    assert all(i["may_open"] for i in by_id.values())
    assert by_id[cardio]["date"] == "2026-03-05T09:00:00+08:00"
    assert by_id[cardio]["date_source"] == "clinical"
    assert by_id[undated]["date_source"] == "registered"
    assert by_id[cardio]["institution"] == {"id": s.cd3h, "code": "cd3h", "name": _name(s, "cd3h")}
    assert by_id[reason]["institution"]["code"] == "qyqchc"
    assert by_id[own]["institution"] is None  # written by the patient
    assert (by_id[own]["record_type"], by_id[reason]["record_type"]) == ("Note", "Referral")
    event = page["items"][1]
    assert event["workflow_id"] == rid
    assert event["event"]
    assert event["from_institution"]["code"] == "qyqchc"
    assert event["to_institution"]["code"] == "cd3h"
    assert event["department"] == "cardiology"
    assert len(event["tx_hash"]) == 66
    times = [i["time"] for i in page["items"]]
    assert times == sorted(times, reverse=True)

    # paging cuts the same order
    second = timeline(s, s.patient, offset=2, limit=3).json()
    assert keys(second["items"]) == keys(page["items"])[2:5]
    assert (second["total"], second["offset"], second["limit"]) == (6, 2, 3)

    # --- the cardiologist: the consented record (treatment) and the referral's reason
    # (through the referral), and the referral's events; nothing else of the chart
    doctor = timeline(s, s.cardiologist).json()
    assert keys(doctor["items"]) == [
        "referral:accepted",
        "referral:requested",
        f"record:{cardio}",
        f"record:{reason}",
    ]
    purposes = {i["record_id"]: i["purpose"] for i in doctor["items"] if i["kind"] == "record"}
    assert purposes == {cardio: "treatment", reason: "referral"}
    only_treatment = timeline(s, s.cardiologist, purpose="treatment").json()
    assert [i["record_id"] for i in only_treatment["items"] if i["kind"] == "record"] == [cardio]

    # --- the GP: the referral it sent, none of the records (no consent covers it)
    gp = timeline(s, s.gp).json()
    assert keys(gp["items"]) == ["referral:accepted", "referral:requested"]

    # --- an auditor: every item, none open
    audit = timeline(s, s.auditor).json()
    assert keys(audit["items"]) == keys(page["items"])
    assert not any(i["may_open"] for i in audit["items"] if i["kind"] == "record")

    # --- another patient: refused
    refused = timeline(s, s.other_patient)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"

    # listing is metadata: not one access decision was logged for any of it
    assert len(s.access_logged()) == log_before

    # the record view carries the clinical date too
    view = s.client.get(f"/records/{cardio}", headers=s.login(s.patient)).json()
    assert view["record_date"] == "2026-03-05T09:00:00+08:00"


def test_bad_record_date_is_refused_before_anything_is_stored(api_stack: Stack) -> None:
    s = api_stack
    record_id, header, body = s.make_record(s.patient, "dept:cardiology", b"{}")
    for bad in ("2026-13-01", "yesterday", "2026-02-30T10:00Z", "2026-01-01T10:00:00+08:00" * 2):
        metadata = {
            "record_id": "0x" + record_id.hex(),
            "patient": s.patient.address,
            "record_type": "Observation",
            "record_date": bad,
        }
        response = s.client.post(
            "/records",
            headers=s.login(s.patient),
            data={"metadata": json.dumps(metadata)},
            files={"header": ("h", header, "application/cbor"), "body": ("b", body, "x/y")},
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "invalid_metadata"
    with s.ctx.sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Record)) == 0


def test_unrelated_clinician_is_refused(api_stack: Stack) -> None:
    """A doctor nothing of the chart is open to gets 403, as on the chart listing."""
    s = api_stack
    upload(s, s.patient, "dept:neurology", record_date="2026-01-01")
    s.grant(s.patient, s.cardiologist, purpose=Purpose.RESEARCH)  # another purpose: nothing
    assert timeline(s, s.gp).status_code == 403
    assert timeline(s, s.cardiologist).status_code == 403
    assert timeline(s, s.patient).json()["total"] == 1


def _name(stack: Stack, code: str) -> str:
    institution_id = stack.ctx.chain.consortium.institution_id_by_code(code)
    return str(stack.ctx.chain.consortium.institution(institution_id).name)
