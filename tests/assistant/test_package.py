"""The package's boundaries and its published figures: it never imports the service, its
transparency figures are what the code measures, and the command line behaves."""

from __future__ import annotations

import ast
import json
import socket
from pathlib import Path

from typer.testing import CliRunner

from clients.assistant.cli import assistant_app
from clients.assistant.evaluation import measure
from clients.assistant.loader import data_dir

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "assistant"
runner = CliRunner()


def test_the_package_never_imports_the_api_service() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "ledger_api"]
    assert offenders == []
    assert all(p.stat().st_size < 40_000 for p in PACKAGE.rglob("*.py"))


def test_the_published_metrics_are_what_the_code_measures() -> None:
    published = json.loads((data_dir() / "metrics.json").read_text(encoding="utf-8"))
    measured = measure()
    published.pop("measured")
    measured.pop("measured")
    assert published == measured, "rerun scripts/bench_assistant.py --write-metrics"


def test_code_prints_ranked_suggestions_and_json() -> None:
    result = runner.invoke(assistant_app, ["code", "高血压病2级", "--limit", "2"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("建议（须医生确认）")
    assert lines[1].startswith("1. I10")
    result = runner.invoke(assistant_app, ["code", "gxy", "--json"])
    assert json.loads(result.output)["suggestions"][0]["code"] == "I10"


def test_code_refuses_bad_text_with_exit_code_2() -> None:
    result = runner.invoke(assistant_app, ["code", " 。"])
    assert result.exit_code == 2
    assert "empty" in result.output


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(
            assistant_app, ["serve", "--port", str(port), "--data-dir", str(tmp_path)]
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
