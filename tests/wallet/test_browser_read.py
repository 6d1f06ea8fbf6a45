"""The patient reads their own record in the wallet page (Chromium), with the patient slot.

A v3 record (crypto/ in Python: per-institution FAME slots and the patient's X25519 slot,
wrapped to the key derived from the patient's wallet signature) is shared for the patient and
registered on chain through the API. The patient then imports their wallet into the page,
signs in and presses "Open" on the record: the page derives the same patient key from a
signature, fetches header and body with signed reads (logged on chain), checks them against
the registration and shows the decrypted FHIR resource. No key authority is involved: none
holds a key this test made. Screenshots: tests/wallet/artifacts/read-*.png.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
from pathlib import Path

from eth_account import Account

from clients.sdk import MedLedgerClient
from clients.sdk.signed import registration_of
from crypto import fame
from crypto.envelope import AccountSealer, AuthorityKey, RecordBinding, encrypt_bytes_v3
from crypto.envelope.hybrid_v3 import authority_digest
from crypto.patient_key import derive_from_account
from crypto.reach import Institution
from tests.clients.conftest import LiveStack
from tests.wallet.conftest import ARTIFACTS, ROOT

READ_FLOW = ROOT / "clients" / "webwallet" / "e2e" / "read_own_record.mjs"
OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "Heart rate 心率"},
    "valueQuantity": {"value": 72, "unit": "beats/minute"},
    "effectiveDateTime": "2026-11-20T09:15:00+08:00",
}


def share_v3(url: str, patient: Account, plaintext: bytes) -> str:
    """The patient shares a v3 record of their own (as the wallet does), through the API."""
    authorities = []
    for inst, code in ((1, "cd3h"), (2, "pjxrmyy")):
        mpk, _ = fame.setup()  # nobody holds these secrets after this line
        authorities.append(AuthorityKey(Institution(inst, code, 1), mpk, authority_digest(mpk)))
    record_id = secrets.token_bytes(32)
    # the upload check still asks for the patient's uid in the policy (v2's rule)
    policy = f"(org:cd3h and role:doctor) or uid:{patient.address.lower()}"
    record, body = encrypt_bytes_v3(
        plaintext,
        authorities=authorities,
        policy=policy,
        patient_public_key=derive_from_account(patient).public_key,
        binding=RecordBinding(record_id=record_id, patient=patient.address),
        sealer=AccountSealer(patient),
        content_type="application/fhir+json",
    )
    with MedLedgerClient(url, account=patient) as client:
        client.login()
        registration = registration_of(
            record_id=record_id,
            patient=patient.address,
            header=record.header,
            header_bytes=record.header_bytes,
            body=io.BytesIO(body),
            record_type="Observation",
        )
        signature = client.sign_action(registration)
        metadata = {
            "record_id": "0x" + record_id.hex(),
            "patient": patient.address,
            "record_type": "Observation",
            "deadline": registration.deadline,
            "signature": "0x" + signature.hex(),
        }
        answer = client._http.json(
            "POST",
            "/records",
            data={"metadata": json.dumps(metadata)},
            files={
                "header": ("header.cbor", record.header_bytes, "application/cbor"),
                "body": ("body.bin", body, "application/octet-stream"),
            },
        )
    assert answer["record_id"] == "0x" + record_id.hex()
    return answer["record_id"]


def test_patient_opens_own_record_in_chromium(
    live_stack: LiveStack, chromium: str, tmp_path: Path
) -> None:
    patient = Account.create()
    plaintext = json.dumps(OBSERVATION, ensure_ascii=False).encode()
    record_id = share_v3(live_stack.url, patient, plaintext)
    ARTIFACTS.mkdir(exist_ok=True)
    done = subprocess.run(
        ["node", str(READ_FLOW)],
        cwd=ROOT,
        env={
            **os.environ,
            "WALLET_URL": f"{live_stack.url}/wallet/",
            "ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": chromium,
            "PATIENT_KEY": "0x" + bytes(patient.key).hex(),
            "RECORD_ID": record_id,
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(("STEP ", "FAIL "))]
    assert lines, f"the browser script said nothing: {done.stderr[-2000:]}"
    assert lines[-1].startswith("STEP opened "), lines[-1]
    opened = json.loads(lines[-1].removeprefix("STEP opened "))
    assert opened["types"] == ["Observation"]
    assert "Heart rate 心率" in opened["text"]
    assert "72 beats/minute" in opened["text"]
    assert patient.address in opened["text"]  # sealed by the patient, who wrote it
    assert (ARTIFACTS / "read-opened.png").is_file()
