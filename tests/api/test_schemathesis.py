"""Schemathesis against the live OpenAPI of a running API: no 5xx, every answer documented.

The API is a real stack (anvil, SQLite or PostgreSQL, a key authority) served by uvicorn on a
loopback port; schemathesis reads ``/openapi.json`` from it and fuzzes every operation three
times: anonymously, with a patient's session and with a doctor's. The seed and the example
count are fixed so a run is reproducible and fits in CI (about two minutes).

Checks: ``not_a_server_error`` (no 5xx), ``status_code_conformance`` (every status is
documented), ``content_type_conformance`` and ``response_schema_conformance`` (every body
matches its documented schema). The summary of each run is printed (``pytest -s``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import Stack
from tests.api.live_server import serve

SEED = 20261201
MAX_EXAMPLES = int(os.environ.get("MEDLEDGER_SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def run_schemathesis(base_url: str, report: Path, headers: dict[str, str]) -> str:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--no-shrink",
        "--request-timeout",
        "60",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--exclude-path-regex",
        "^/wallet",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    return done.stdout + done.stderr


@pytest.mark.slow
def test_fuzzed_api_answers_no_5xx_and_only_documented_responses(
    api_stack: Stack, tmp_path: Path
) -> None:
    sessions = {
        "anonymous": {},
        "patient": api_stack.login(api_stack.patient),
        "doctor": api_stack.login(api_stack.cardiologist),
    }
    outputs: dict[str, str] = {}
    with serve(api_stack.client.app) as base_url:
        for name, headers in sessions.items():
            outputs[name] = run_schemathesis(base_url, tmp_path / f"{name}.xml", headers)
    for name, output in outputs.items():
        print(f"===== schemathesis as {name} =====\n{output[-4000:]}")
    for name, output in outputs.items():
        assert re.search(r"No issues found", output), f"{name}:\n{output[-20000:]}"
