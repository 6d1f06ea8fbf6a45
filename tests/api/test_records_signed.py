"""A registration carries its author's signature: the API refuses one it did not sign, for
these exact bytes, before anything is stored (the chain would refuse it too: contract tests).

Issue 14's attack: with only the relayer key (or a compromised API), a record could be
registered in a doctor's name. Here each way of sending a registration the author did not
sign is refused, and nothing reaches the block store, the index or the chain.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from eth_account import Account

from crypto.signing import sign
from tests.api.conftest import Stack
from tests.api.test_records import assert_nothing_written, block_files

PLAINTEXT = b'{"resourceType":"Observation","status":"final"}'


def _post(
    stack: Stack, account: Any, record_id: bytes, header: bytes, body: bytes, **meta: Any
) -> Any:
    metadata = {"record_id": "0x" + record_id.hex(), "patient": stack.patient.address}
    metadata.update(record_type="Observation", **meta)
    return stack.client.post(
        "/records",
        headers=stack.login(account),
        data={"metadata": json.dumps(metadata)},
        files={
            "header": ("header.cbor", header, "application/cbor"),
            "body": ("body.bin", body, "application/octet-stream"),
        },
    )


def test_every_unsigned_or_foreign_registration_is_refused(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(
        stack.patient, "dept:cardiology", PLAINTEXT, author=stack.cardiologist
    )
    registration = stack.registration(
        record_id=record_id, patient=stack.patient.address, header=header, body=body
    )
    domain = stack.registry_domain

    def signed_by(key: Any, message: Any = registration) -> dict[str, Any]:
        return {
            "deadline": message.deadline,
            "signature": "0x" + sign(domain, message, key).hex(),
        }

    other_type = replace(registration, record_type=b"Secret".ljust(32, b"\0"))
    expired = replace(registration, deadline=int(time.time()) - 5)
    far = replace(registration, deadline=int(time.time()) + 365 * 86_400)
    cases = [
        ({}, 422, "registration_unsigned"),
        (signed_by(stack.gp.key), 403, "signer_mismatch"),  # another doctor's signature
        (signed_by(Account.create().key), 403, "signer_mismatch"),  # e.g. the relayer's
        (signed_by(stack.cardiologist.key, other_type), 403, "signer_mismatch"),  # other bytes
        (signed_by(stack.cardiologist.key, expired), 422, "signature_expired"),
        (signed_by(stack.cardiologist.key, far), 422, "deadline_too_far"),
        ({"deadline": registration.deadline, "signature": "0x12"}, 422, "invalid_signature"),
    ]
    before = block_files(stack)
    for meta, status, code in cases:
        answer = _post(stack, stack.cardiologist, record_id, header, body, **meta)
        assert answer.status_code == status, (code, answer.text)
        assert answer.json()["error"]["code"] == code, answer.text
    # a malleable twin (high s) of the author's own signature is refused as the chain would
    good = sign(domain, registration, stack.cardiologist.key)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(good[32:64], "big")
    twin = good[:32] + (n - s).to_bytes(32, "big") + bytes([55 - good[64]])
    answer = _post(
        stack,
        stack.cardiologist,
        record_id,
        header,
        body,
        deadline=registration.deadline,
        signature="0x" + twin.hex(),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_signature"
    assert_nothing_written(stack, record_id, before)

    ok = _post(
        stack, stack.cardiologist, record_id, header, body, **signed_by(stack.cardiologist.key)
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["author"] == stack.cardiologist.address
