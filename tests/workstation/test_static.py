"""The API serves the built workstation at /workstation/ (or says how to build it), tells the
page where the GP assistant is (config.json) and lets it reach that origin only (CSP); the
export its unit tests check against is up to date."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from ledger_api.app import create_app
from ledger_api.config import DEFAULT_WORKSTATION_DIR, Settings
from ledger_api.routes.workstation import assistant_origin, workstation_csp
from tests.api.conftest import RELAYER_KEY

ROOT = Path(__file__).resolve().parents[2]


def app_client(
    workstation_dir: Path, tmp_path: Path, assistant_url: str | None, gateway_url: str | None = None
) -> TestClient:
    """The app without its lifespan: static files need no chain, store or database."""
    settings = Settings(
        relayer_key=RELAYER_KEY,
        data_dir=tmp_path,
        workstation_dir=workstation_dir,
        assistant_url=assistant_url,
        gateway_url=gateway_url,
    )
    return TestClient(create_app(settings))


def test_built_workstation_is_served_with_a_strict_csp(
    workstation_dist: Path, tmp_path: Path
) -> None:
    client = app_client(workstation_dist, tmp_path, "http://127.0.0.1:8090/")
    page = client.get("/workstation/")
    assert page.status_code == 200
    assert '<div id="app">' in page.text
    assert '<html lang="zh-CN">' in page.text  # Chinese by default
    assert "/workstation/assets/" in page.text  # built with base /workstation/
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp  # WebAssembly (mcl-wasm) only
    assert "'unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")  # never JS eval
    assert "connect-src 'self' http://127.0.0.1:8090;" in csp  # the assistant, and only it
    assert "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-cache"
    asset = next(p.name for p in (workstation_dist / "assets").iterdir() if p.suffix == ".js")
    script = client.get(f"/workstation/assets/{asset}")
    assert script.status_code == 200
    assert "cache-control" not in script.headers
    assert client.get("/workstation/config.json").json() == {
        "assistant_url": "http://127.0.0.1:8090"
    }
    moved = client.get("/workstation", follow_redirects=False)
    assert moved.status_code in (307, 308)
    assert client.get("/workstation/no-such-file.js").status_code == 404
    # the wallet is untouched by the shared static class
    assert "connect-src 'self';" in client.get("/wallet/").headers["content-security-policy"]


def test_unbuilt_workstation_answers_one_clear_page(tmp_path: Path) -> None:
    client = app_client(tmp_path / "not-built", tmp_path, None)
    page = client.get("/workstation/")
    assert page.status_code == 503
    assert "make workstation" in page.text
    assert str(tmp_path / "not-built") in page.text
    assert "connect-src 'self';" in page.headers["content-security-policy"]
    assert client.get("/workstation/config.json").json() == {"assistant_url": None}


def test_only_an_http_origin_widens_the_csp() -> None:
    assert assistant_origin("https://assist.cd3h.example:8443/base/") == (
        "https://assist.cd3h.example:8443"
    )
    for bad in (None, "", "javascript:alert(1)", "ftp://x", "http://", "data:text/html,x"):
        assert assistant_origin(bad) is None
        assert "connect-src 'self';" in workstation_csp(bad)
    # a URL cannot smuggle another directive into the policy
    assert ";" not in (assistant_origin("http://a.example;script-src *") or "")


def test_default_workstation_dir_is_the_vite_build_folder() -> None:
    assert ROOT / "clients/workstation/dist" == DEFAULT_WORKSTATION_DIR


def test_exported_fixtures_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export_workstation.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    fixtures = json.loads((ROOT / "clients/workstation/test/fixtures/fhir.json").read_text())
    kinds = {r["resource"]["resourceType"] for r in fixtures["resources"]}
    assert {"Observation", "Composition", "Condition", "MedicationRequest", "Patient"} <= kinds


def test_a_hospital_gateway_is_named_to_the_page_and_reachable(
    workstation_dist: Path, tmp_path: Path
) -> None:
    """MEDLEDGER_GATEWAY_URL: config.json names it and connect-src adds its origin only."""
    client = app_client(workstation_dist, tmp_path, None, "http://127.0.0.1:8780/")
    csp = client.get("/workstation/").headers["content-security-policy"]
    assert "connect-src 'self' http://127.0.0.1:8780;" in csp
    assert client.get("/workstation/config.json").json() == {
        "assistant_url": None,
        "gateway_url": "http://127.0.0.1:8780",
    }
    both = workstation_csp("http://127.0.0.1:8090", "https://gw.cd3h.example/x")
    assert "connect-src 'self' http://127.0.0.1:8090 https://gw.cd3h.example;" in both
    assert "connect-src 'self';" in workstation_csp(None, "javascript:alert(1)")
