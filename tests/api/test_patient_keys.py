"""``POST /patient-keys``: the patient's signed X25519 key registration, relayed to
``ConsentManager``. A retry of exactly what the chain holds is answered without a transaction
(the web wallet registers at every first sign-in of a session); anything else goes to the
contract, which checks the patient's signature and that the version rises."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

from crypto.patient_key import derive_from_account, registration_typed_data
from tests.api.conftest import Stack


def _body(stack: Stack, account: object, public_key: bytes, version: int) -> dict[str, object]:
    data = registration_typed_data(
        patient=account.address,  # type: ignore[attr-defined]
        public_key=public_key,
        version=version,
        chain_id=stack.w3.eth.chain_id,
        verifying_contract=stack.deployment.address("ConsentManager"),
    )
    signed = account.sign_message(encode_typed_data(full_message=data))  # type: ignore[attr-defined]
    return {
        "patient": account.address,  # type: ignore[attr-defined]
        "public_key": "0x" + public_key.hex(),
        "version": version,
        "signature": "0x" + bytes(signed.signature).hex(),
    }


def test_a_registration_is_relayed_once_and_a_retry_sends_nothing(api_stack: Stack) -> None:
    stack = api_stack
    patient = Account.create()
    key = derive_from_account(patient).public_key
    body = _body(stack, patient, key, 1)
    first = stack.client.post("/patient-keys", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["tx_hash"].startswith("0x")
    before = stack.w3.eth.block_number
    again = stack.client.post("/patient-keys", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "tx_hash": None}
    assert stack.w3.eth.block_number == before  # nothing was sent
    shown = stack.client.get(f"/patient-keys/{patient.address}")
    assert shown.json()["public_key"] == "0x" + key.hex()


def test_another_key_at_the_same_version_or_a_forged_one_is_refused(api_stack: Stack) -> None:
    stack = api_stack
    patient, mallory = Account.create(), Account.create()
    key = derive_from_account(patient).public_key
    assert stack.client.post("/patient-keys", json=_body(stack, patient, key, 1)).status_code == 200
    other = derive_from_account(mallory).public_key
    replaced = stack.client.post("/patient-keys", json=_body(stack, patient, other, 1))
    assert replaced.status_code == 422
    assert replaced.json()["error"]["code"] == "patient_key_refused"
    forged = _body(stack, mallory, other, 2)
    forged["patient"] = patient.address  # mallory signs for the patient
    refused = stack.client.post("/patient-keys", json=forged)
    assert refused.status_code == 422
    assert stack.client.get(f"/patient-keys/{patient.address}").json()["public_key"] == (
        "0x" + key.hex()
    )
