"""Issue 13, friction 7: docs/sdk.md's example runs as written, twice in a row.

The code block is taken from the document itself and run in a fresh interpreter against the
real stack (anvil, the API over HTTP), with the stack's cardiologist as the demo's
``demo-cardiologist`` wallet in ``MEDLEDGER_DATA_DIR``, as ``make run`` leaves it. The home
folder must stay untouched (the example honours ``MEDLEDGER_DATA_DIR``), the second run must
work like the first, and the record must be read back by the doctor.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clients.sdk.wallet import WalletStore
from tests.clients.conftest import LiveStack

DOC = Path(__file__).resolve().parents[3] / "docs" / "sdk.md"
PASSWORD = "medledger-demo"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks, "docs/sdk.md has no python example"
    return blocks[0]


def test_the_documented_methods_are_the_ones_used() -> None:
    code = example()
    text = DOC.read_text(encoding="utf-8")
    used = set(re.findall(r"\.(\w+)\(", code)) & {
        "share_fhir", "list_records", "grant", "revoke", "consents", "access_events",
        "fetch", "reader_key",
    }  # fmt: skip
    assert used >= {"share_fhir", "list_records", "revoke", "consents", "access_events"}
    for name in used:
        documented = text.replace(code, "")  # the list below the example, not the example
        assert f"`{name}(" in documented, f"{name} is used but not documented in docs/sdk.md"


def test_the_example_runs_twice_against_the_stack(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    data_dir, home = tmp_path / "data", tmp_path / "home"
    home.mkdir()
    WalletStore(data_dir, scrypt_log2_n=10).import_key(
        "demo-cardiologist", stack.cardiologist.key.hex(), PASSWORD
    )
    script = tmp_path / "example.py"
    script.write_text(example(), encoding="utf-8")
    env = {
        **os.environ,
        "HOME": str(home),
        "MEDLEDGER_DATA_DIR": str(data_dir),
        "MEDLEDGER_API_URL": live_stack.url,
    }
    env.pop("MEDLEDGER_WALLET_PASSWORD", None)  # the example's default: the demo's password
    outputs = []
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stdout + run.stderr
        outputs.append(run.stdout)
    assert "1 records of mine" in outputs[0]
    assert "2 records of mine" in outputs[1]  # the same patient wallet, reopened
    for out in outputs:
        assert "the cardiologist decrypted" in out
        assert f"{stack.cardiologist.address} treatment granted" in out
    copy = json.loads((data_dir / "observation-copy.json").read_text(encoding="utf-8"))
    assert copy["valueQuantity"] == {"value": 72, "unit": "/min"}
    assert list(home.iterdir()) == []  # nothing in the real home folder
    assert (data_dir / "wallets" / "zhang-wei.json").is_file()
