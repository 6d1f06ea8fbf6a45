"""The web apps' TDH2 constants and vectors are generated from crypto/threshold and up to date,
and the committed vectors still combine in Python (the page's half is test/tdh2.test.js)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from crypto.threshold.keys import EmergencyPublicKey
from crypto.threshold.tdh2 import Ciphertext, DecryptionShare, InvalidShareError, combine
from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "scripts" / "export_tdh2.py"
FIXTURES = ROOT / "clients" / "webwallet" / "test" / "fixtures" / "tdh2.json"


def test_generated_tdh2_files_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_fixture_slots_combine_and_the_bad_share_is_refused() -> None:
    data = json.loads(FIXTURES.read_text(encoding="utf-8"))
    key = EmergencyPublicKey.from_parts(
        key_round=data["key"]["round"],
        t=data["key"]["t"],
        h=bytes.fromhex(data["key"]["h"]),
        verification_keys=bytes.fromhex(data["key"]["verificationKeys"]),
    )
    for case in data["cases"]:
        ciphertext = Ciphertext.from_bytes(bytes.fromhex(case["slot"]))
        shares = [DecryptionShare.from_bytes(bytes.fromhex(s)) for s in case["shares"]]
        label = bytes.fromhex(case["label"])
        assert combine(key, ciphertext, label, shares[::2]).hex() == case["dataKey"]
    case = data["cases"][data["badShare"]["case"]]
    bad = DecryptionShare.from_bytes(bytes.fromhex(data["badShare"]["share"]))
    first = DecryptionShare.from_bytes(bytes.fromhex(case["shares"][0]))
    ciphertext = Ciphertext.from_bytes(bytes.fromhex(case["slot"]))
    with pytest.raises(InvalidShareError) as refused:
        combine(key, ciphertext, bytes.fromhex(case["label"]), [first, bad])
    assert refused.value.index == 2
