"""Wallet web app tests: the built app served by the API, and a real browser driving it.

``wallet_dist`` builds ``clients/webwallet`` with vite into a temp dir once per session (the
tests check the source as it is, not a stale ``dist/``); ``stack_settings`` points the API's
``wallet_dir`` at it, so ``live_stack`` (uvicorn on a free port, fresh contracts, the demo
consortium) serves it at ``/wallet/``. SQLite only: the API's backends are tested in api/.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import (  # noqa: F401  (fixtures re-exported for this package)
    LiveStack,
    api_stack,
    live_authorities,
    live_stack,
    stack_hooks,
)

ROOT = Path(__file__).resolve().parents[2]
WEBWALLET = ROOT / "clients" / "webwallet"
VITE = ROOT / "node_modules" / ".bin" / "vite"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def wallet_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VITE.exists():
        pytest.fail(f"{VITE} is missing: run `npm ci` (make install)")
    out = tmp_path_factory.mktemp("wallet-dist")
    done = subprocess.run(
        [str(VITE), "build", "--config", str(WEBWALLET / "vite.config.mjs"), "--outDir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"vite build failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "index.html").is_file()
    return out


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings(wallet_dist: Path) -> dict[str, Any]:
    return {"wallet_dir": wallet_dist}


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; missing is a failure (CI installs it in .ci/run), never a skip."""
    found = shutil.which("chromium")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        pytest.fail(
            "chromium is not installed: apt-get install -y --no-install-recommends chromium"
            " (.ci/run does it in CI)"
        )
    return found
