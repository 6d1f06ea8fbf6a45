"""The authorisation matrix of the record endpoints: every endpoint as every role.

Roles: anonymous, the patient, another patient, a doctor with a (whole-chart) consent, a
doctor without, an auditor, the consortium admin. Besides each status, every content read
attempt that reached a decision (all but the anonymous ones, refused at the door with 401)
must be on chain as an ``AccessLogged`` event with the right accessor and granted flag.
"""

from __future__ import annotations

import json

from tests.api.conftest import Stack

PLAINTEXT = json.dumps({"resourceType": "Encounter", "class": "AMB"}).encode()

# role → (list chart, metadata, header, body, upload for the patient)
EXPECTED = {
    "anonymous": (401, 401, 401, 401, 401),
    "patient": (200, 200, 200, 200, 201),
    "other_patient": (403, 403, 403, 403, 403),
    "doctor_with_consent": (200, 200, 200, 200, 201),
    "doctor_without_consent": (403, 403, 403, 403, 201),  # any active doctor may author
    "auditor": (200, 200, 403, 403, 403),
    "admin": (200, 200, 403, 403, 403),
}


def test_record_endpoints_as_every_role(api_stack: Stack) -> None:
    stack = api_stack
    people = {
        "patient": stack.patient,
        "other_patient": stack.other_patient,
        "doctor_with_consent": stack.cardiologist,
        "doctor_without_consent": stack.gp,
        "auditor": stack.auditor,
        "admin": stack.admin,
    }
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", PLAINTEXT)
    shared = stack.upload(
        stack.cardiologist, record_id=record_id, patient=stack.patient, header=header, body=body
    )
    assert shared.status_code == 201, shared.text
    rid = shared.json()["record_id"]
    stack.grant(stack.patient, stack.cardiologist)  # whole chart, treatment
    start = stack.w3.eth.block_number + 1

    statuses: dict[str, tuple[int, ...]] = {}
    for role in EXPECTED:
        account = people.get(role)
        headers = stack.login(account) if account is not None else {}
        new_id, new_header, new_body = stack.make_record(stack.patient, "role:doctor", PLAINTEXT)
        if account is not None:
            upload = stack.upload(
                account, record_id=new_id, patient=stack.patient, header=new_header, body=new_body
            ).status_code
        else:
            upload = stack.client.post(
                "/records", files={"header": ("h", new_header), "body": ("b", new_body)}
            ).status_code
        statuses[role] = (
            stack.client.get(
                f"/patients/{stack.patient.address}/records", headers=headers
            ).status_code,
            stack.client.get(f"/records/{rid}", headers=headers).status_code,
            stack.client.get(f"/records/{rid}/header", headers=headers).status_code,
            stack.client.get(f"/records/{rid}/body", headers=headers).status_code,
            upload,
        )
    assert statuses == EXPECTED

    logged = [e for e in stack.access_logged(from_block=start) if "0x" + e["recordId"].hex() == rid]
    by_accessor: dict[str, list[bool]] = {}
    for event in logged:
        by_accessor.setdefault(event["accessor"], []).append(event["granted"])
    # a denied header read and the denied body read after it are the same denial (reader,
    # record, purpose, reason): one entry on chain, the repeat counted in the index
    expected_log = {
        people[role].address: [True, True] if EXPECTED[role][2] == 200 else [False]
        for role in EXPECTED
        if role != "anonymous"
    }
    assert by_accessor == expected_log
