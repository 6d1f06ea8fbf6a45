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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Stack
from tests.api.live_server import serve
from tests.conftest import postgres_url
from tests.storage.conftest import empty_database

SEED = 20261201
MAX_EXAMPLES = int(os.environ.get("MEDLEDGER_SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def schemathesis_command(
    base_url: str, report: Path, headers: dict[str, str], exclude: tuple[str, ...] = ()
) -> list[str]:
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
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    for path in exclude:
        command += ["--exclude-path", path]
    return command


def failures(output: str) -> str:
    """The failures and errors part of a run's output (what to read when it fails)."""
    start = min(
        (i for i in (output.find("= FAILURES ="), output.find("= ERRORS =")) if i >= 0), default=0
    )
    end = output.find("= WARNINGS =", start)
    return output[start : end if end > start else start + 20000][:20000]


def summary(output: str) -> tuple[int, int]:
    """``(generated, passed)`` from schemathesis's closing summary."""
    found = re.search(r"(\d+) generated, (\d+) passed", output)
    assert found is not None, output[-20000:]
    return int(found.group(1)), int(found.group(2))


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """One backend for this (long) run: PostgreSQL when the run has it, else SQLite."""
    with empty_database("postgres" if postgres_url() else "sqlite", tmp_path) as url:
        yield url


@pytest.mark.slow
def test_fuzzed_api_answers_no_5xx_and_only_documented_responses(
    api_stack: Stack, tmp_path: Path
) -> None:
    sessions = {
        "anonymous": {},
        "patient": api_stack.login(api_stack.patient),
        "doctor": api_stack.login(api_stack.cardiologist),
    }
    outputs: dict[str, tuple[int, str]] = {}
    with serve(api_stack.client.app) as base_url:
        # the three runs at once: each mostly waits on the network and the chain
        runs = {
            name: subprocess.Popen(
                schemathesis_command(
                    base_url,
                    tmp_path / f"{name}.xml",
                    headers,
                    # a signed-in run must not sign itself out half-way
                    ("/auth/logout",) if headers else (),
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name, headers in sessions.items()
        }
        for name, process in runs.items():
            output, _ = process.communicate(timeout=900)
            outputs[name] = (process.returncode, output)
            (tmp_path / f"{name}.log").write_text(output)
    for name, (_, output) in outputs.items():
        print(f"===== schemathesis as {name} =====\n{output[-3000:]}")
    for name, (code, output) in outputs.items():
        generated, passed = summary(output)
        assert code == 0, f"{name}:\n{failures(output)}"
        assert generated == passed > 0, f"{name}: {passed} of {generated} passed"
