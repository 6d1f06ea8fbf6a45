"""The wallet's envelope v3 constants and fixtures are generated from crypto/ and up to date,
and the committed fixture record decrypts in Python by both the member and the patient slot."""

from __future__ import annotations

import json
import subprocess
import sys

from crypto.envelope import decrypt_bytes_v3
from crypto.keys import load_user_key
from crypto.patient_key import PatientKey
from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "scripts" / "export_envelope_v3.py"


def test_generated_envelope_v3_files_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_fixture_record_opens_by_member_and_patient_slot() -> None:
    data = json.loads(
        (ROOT / "clients/webwallet/test/fixtures/envelope_v3.json").read_text(encoding="utf-8")
    )
    record = data["record"]
    header, body = bytes.fromhex(record["header"]), bytes.fromhex(record["body"])
    member = load_user_key(bytes.fromhex(record["memberKeyInstitution1"]))
    plain = decrypt_bytes_v3(header, body, user_key=member, institution_id=1)
    assert plain.decode() == record["plaintext"]
    patient = PatientKey(bytes.fromhex(record["patientPrivateKey"]))
    assert decrypt_bytes_v3(header, body, patient_key=patient).decode() == record["plaintext"]
