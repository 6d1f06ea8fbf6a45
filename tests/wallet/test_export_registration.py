"""The wallet's registration fixtures are made by crypto/ and eth-account and up to date."""

from __future__ import annotations

import json
import subprocess
import sys

from eth_utils import is_checksum_address

from crypto.policy import policy_hash
from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "scripts" / "export_registration.py"
FIXTURES = ROOT / "clients/webwallet/test/fixtures/registration.json"


def test_registration_fixtures_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_registration_fixtures_hash_what_the_wallet_signs() -> None:
    fixtures = json.loads(FIXTURES.read_text(encoding="utf-8"))
    for item in fixtures["policyHashes"]:
        assert item["hash"] == "0x" + policy_hash(item["normalized"]).hex()
    fields = [f"{f['type']} {f['name']}" for f in fixtures["types"]["RecordRegistration"]]
    expected = (
        "RecordRegistration(bytes32 id,address patient,string bodyCid,string headerCid,"
        "bytes32 bodyHash,bytes32 policyHash,bytes32 recordType,uint64 deadline)"
    )
    assert f"RecordRegistration({','.join(fields)})" == expected
    for item in fixtures["registrations"]:
        assert item["typeString"] == expected
        assert item["domain"]["name"] == "MedLedger RecordRegistry"
        assert is_checksum_address(item["domain"]["verifyingContract"])
    digests = {item["digest"] for item in fixtures["registrations"]}
    assert len(digests) == len(fixtures["registrations"])
