"""The wallet's FAME constants and fixtures are generated from crypto/ and up to date."""

from __future__ import annotations

import json
import subprocess
import sys

from crypto import fame, groups
from crypto.fame_types import SCHEME_ID
from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "scripts" / "export_fame.py"


def test_generated_fame_constants_and_fixtures_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    generated = json.loads(
        (ROOT / "clients/webwallet/src/generated/fame.json").read_text(encoding="utf-8")
    )
    assert generated["scheme"] == SCHEME_ID
    assert generated["hashDst"].encode("ascii") == groups.HASH_DST
    assert bytes.fromhex(generated["egh"]) == groups.gt_to_bytes(fame.pairing_base())
