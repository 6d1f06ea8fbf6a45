"""Issue 13, friction 9: ``medledger`` starts fast and a command imports only what it uses.

The budget is a ratio to ``python -c pass`` on the same machine (so a slow or busy machine
moves both), the fastest of :data:`RUNS` runs of each taken in turn. Measured on this
2-core machine (shared with other jobs, load 3 to 5): ``medledger --help`` 0.064 s against
0.019 s for ``pass``, 3.4x (typer and click; the root's page is not rendered with rich), and
up to 0.15 s against 0.04 s under heavier load. Before issue 13 it took 2 to 3.7 s (every
group, the SDK, web3 and the server imported). :data:`HELP_BUDGET`, the issue's 8x, leaves
that headroom. What must never be imported to print the help (the server, the chain client,
the database, the pairing library) is checked in a fresh interpreter's ``sys.modules``, as
is what the cheap commands leave out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HELP_BUDGET = 8.0  # x `python -c pass`; the target is <= 0.5 s, about 8x here
SERVER_SIDE = ("ledger_api", "web3", "sqlalchemy", "fastapi", "pymcl", "uvicorn")
PROBE = """
import json, sys
from clients.cli import main
sys.argv = ["medledger", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print("MODULES=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


RUNS = 10


def _fastest(*commands: list[str]) -> list[float]:
    """Per command, the fastest of :data:`RUNS` wall-clock times, the commands taken in turn
    (so that a burst of load elsewhere slows both, and the least disturbed run counts)."""
    best = [float("inf")] * len(commands)
    for _ in range(RUNS):
        for i, command in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, timeout=60)
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def _imported(*args: str, data_dir: Path) -> set[str]:
    """Top-level packages a fresh interpreter holds after ``medledger ARGS``."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=120,
        env={"MEDLEDGER_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "HOME": str(data_dir)},
    )
    line = [x for x in result.stderr.splitlines() if x.startswith("MODULES=")]
    assert line, result.stderr
    return set(json.loads(line[0].removeprefix("MODULES=")))


def test_help_starts_within_budget() -> None:
    medledger = str(Path(sys.executable).with_name("medledger"))
    baseline, help_time = _fastest([sys.executable, "-c", "pass"], [medledger, "--help"])
    assert help_time <= HELP_BUDGET * baseline, (
        f"medledger --help took {help_time:.3f} s, python -c pass {baseline:.3f} s "
        f"(ratio {help_time / baseline:.1f}, budget {HELP_BUDGET})"
    )


def test_help_and_version_import_nothing_of_the_server(tmp_path: Path) -> None:
    for args in (["--help"], ["--version"]):
        loaded = _imported(*args, data_dir=tmp_path)
        assert not loaded & set(SERVER_SIDE), (args, sorted(loaded & set(SERVER_SIDE)))
        assert not loaded & {"eth_account", "httpx", "rich.progress"}, args
    # a group's help loads that group's commands (the SDK), still nothing of the server
    loaded = _imported("patient", "--help", data_dir=tmp_path)
    assert not loaded & {"ledger_api", "web3", "sqlalchemy", "fastapi", "uvicorn"}


def test_commands_import_only_what_they_use(tmp_path: Path) -> None:
    # the wallet list reads keystore files: no chain client, no server, no pairing library
    loaded = _imported("wallet", "list", data_dir=tmp_path)
    assert not loaded & set(SERVER_SIDE), sorted(loaded & set(SERVER_SIDE))
    # a patient command talks to the API over HTTP: the SDK, never the server's packages
    loaded = _imported("patient", "records", "--api", "http://127.0.0.1:9", data_dir=tmp_path)
    assert "clients" in loaded
    assert not loaded & {"ledger_api", "web3", "sqlalchemy", "fastapi", "uvicorn"}, sorted(
        loaded & set(SERVER_SIDE)
    )
