"""The API serves the built wallet at /wallet/ (or says how to build it), and /directory."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ledger_api.app import create_app
from ledger_api.config import DEFAULT_WALLET_DIR, Settings
from tests.api.conftest import RELAYER_KEY, Stack


def app_client(wallet_dir: Path, tmp_path: Path) -> TestClient:
    """The app without its lifespan: static files need no chain, store or database."""
    settings = Settings(relayer_key=RELAYER_KEY, data_dir=tmp_path, wallet_dir=wallet_dir)
    return TestClient(create_app(settings))


def test_built_wallet_is_served_with_a_strict_csp(wallet_dist: Path, tmp_path: Path) -> None:
    client = app_client(wallet_dist, tmp_path)
    page = client.get("/wallet/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<div id="app">' in page.text
    assert "/wallet/assets/" in page.text  # built with base /wallet/
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp  # WebAssembly (mcl-wasm) only
    assert "'unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")  # never JS eval
    assert "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-cache"
    asset = next(p.name for p in (wallet_dist / "assets").iterdir() if p.suffix == ".js")
    script = client.get(f"/wallet/assets/{asset}")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "cache-control" not in script.headers  # hashed names: cacheable
    moved = client.get("/wallet", follow_redirects=False)
    assert moved.status_code in (307, 308)
    assert moved.headers["location"].endswith("/wallet/")
    assert client.get("/wallet/no-such-file.js").status_code == 404


def test_unbuilt_wallet_answers_one_clear_page(tmp_path: Path) -> None:
    client = app_client(tmp_path / "not-built", tmp_path)
    page = client.get("/wallet/")
    assert page.status_code == 503
    assert "make wallet" in page.text
    assert str(tmp_path / "not-built") in page.text
    assert "Traceback" not in page.text


def test_default_wallet_dir_is_the_vite_build_folder() -> None:
    expected = Path(__file__).resolve().parents[2] / "clients/webwallet/dist"
    assert expected == DEFAULT_WALLET_DIR


def test_directory_lists_institutions_and_attribute_values(api_stack: Stack) -> None:
    api_stack.wait_indexed()  # the directory is read from the index, which follows the chain
    answer = api_stack.client.get("/directory")  # public: no token
    assert answer.status_code == 200
    by_code = {i["code"]: i for i in answer.json()["institutions"]}
    assert set(by_code) == {"cd3h", "qyqchc"}
    cd3h = by_code["cd3h"]
    assert cd3h["name"] == "成都市第三人民医院"
    assert cd3h["institution_id"] == api_stack.cd3h
    assert cd3h["roles"] == ["doctor"]  # the auditor is not a grantable role
    assert cd3h["attributes"] == {"dept": ["cardiology"]}
    assert by_code["qyqchc"]["attributes"] == {"dept": ["general_practice"]}
    assert "/directory" in api_stack.client.get("/openapi.json").json()["paths"]
