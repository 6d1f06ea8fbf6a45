"""The in-page decryption's fixtures (made by Python) still open with today's Python.

``scripts/export_decrypt.py --check`` parses and decrypts every committed fixture; a format
change in ``crypto/`` makes it fail until the fixtures are exported again, so the vitest suite
never tests the page against a format Python no longer writes. It must also fail: a fixture
whose ciphertext was altered is reported stale.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "scripts" / "export_decrypt.py"
sys.path.insert(0, str(ROOT / "scripts"))


def test_committed_decrypt_fixtures_open_in_python() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_check_reports_an_altered_fixture() -> None:
    import export_decrypt

    data = json.loads(export_decrypt.FIXTURES.read_text(encoding="utf-8"))
    other = data["fame"][1]["element"]
    data["fame"][0]["element"] = other
    env = data["envelope"]
    env["plaintext"] = env["plaintext"][:-2] + ("00" if env["plaintext"][-2:] != "00" else "01")
    problems = export_decrypt.check(data)
    assert any("another element" in p for p in problems)
    assert any("another plaintext" in p for p in problems)
