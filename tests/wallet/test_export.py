"""The wallet's copy of the signing definitions is generated from crypto/ and up to date."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crypto.signing import DOMAIN_NAME, EIP712_TYPES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "export_eip712.py"


def test_generated_definitions_and_fixtures_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    generated = json.loads(
        (ROOT / "clients/webwallet/src/generated/eip712.json").read_text(encoding="utf-8")
    )
    assert generated["eip712"]["types"] == EIP712_TYPES
    assert generated["eip712"]["domain"]["name"] == DOMAIN_NAME
