"""Workstation web app tests: the built app served by the API, and Chromium driving it.

``workstation_dist`` builds ``clients/workstation`` with vite into a temp dir once per session
(the source as it is, not a stale ``dist/``); ``stack_settings`` points the API's
``workstation_dir`` at it and names the assistant service the e2e tests start, so
``live_stack`` (uvicorn on a free port, fresh contracts, the demo consortium) serves it at
``/workstation/``. SQLite only: the API's backends are tested in api/.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import (  # noqa: F401  (fixtures re-exported for this package)
    LiveStack,
    api_stack,
    free_port,
    live_stack,
    stack_hooks,
)
from tests.wallet.conftest import chromium  # noqa: F401  (Debian's chromium, never a skip)

ROOT = Path(__file__).resolve().parents[2]
WORKSTATION = ROOT / "clients" / "workstation"
VITE = ROOT / "node_modules" / ".bin" / "vite"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def workstation_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VITE.exists():
        pytest.fail(f"{VITE} is missing: run `npm ci` (make install)")
    out = tmp_path_factory.mktemp("workstation-dist")
    done = subprocess.run(
        [VITE, "build", "--config", WORKSTATION / "vite.config.mjs", "--outDir", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"vite build failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "index.html").is_file()
    return out


@pytest.fixture(scope="session")
def assistant_port() -> int:
    return free_port()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings(workstation_dist: Path, assistant_port: int) -> dict[str, Any]:
    return {
        "workstation_dir": workstation_dist,
        "assistant_url": f"http://127.0.0.1:{assistant_port}",
    }
