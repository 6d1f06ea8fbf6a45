"""The layout shows the architecture: no import cycles, the SDK apart from the server.

These read the source (``ast``), not the running interpreter, so a lazy import inside a
function or an ``importlib`` call counts as much as a module-level one.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from tests.layout import import_graph
from tests.layout.import_graph import ROOT, ImportGraph

MAX_MODULE_LINES = 420  # "about 400": split a module before it grows past this


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return import_graph.build()


def test_no_import_cycle_between_modules_of_the_project(graph: ImportGraph) -> None:
    assert len(graph.files) > 150  # the walk found the project, not an empty folder
    assert graph.cycles() == []


def test_no_cycle_even_counting_type_checking_imports(graph: ImportGraph) -> None:
    """Types that two modules need from each other live below both (the demo's Scene, the
    API's AppContext), so the graph has no cycle even with the type-only imports."""
    typed = import_graph.build(type_checking=True)
    assert sum(map(len, typed.edges.values())) > sum(map(len, graph.edges.values()))
    assert typed.cycles() == []


def test_the_sdk_imports_nothing_of_the_server() -> None:
    offenders = []
    for path in sorted((ROOT / "clients" / "sdk").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):  # every import, type-only ones included
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if node.value.startswith("ledger_api.") else []
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if name == "ledger_api" or name.startswith("ledger_api.")
            ]
    assert offenders == []


def test_nothing_imports_clients_but_clients(graph: ImportGraph) -> None:
    """The dependency direction of the design: clients sit at the edge."""
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph.edges.items()
        if not module.startswith("clients")
        for target in targets
        if target.startswith("clients")
    ]
    assert wrong == []


def test_crypto_and_storage_depend_on_nothing_of_ours(graph: ImportGraph) -> None:
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph.edges.items()
        if module.split(".")[0] in {"crypto", "storage"}
        for target in targets
        if target.split(".")[0] != module.split(".")[0]
    ]
    assert wrong == []


def test_modules_stay_small() -> None:
    big = []
    for package in import_graph.PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or "node_modules" in path.parts:
                continue
            lines = path.read_text(encoding="utf-8").count("\n")
            if lines > MAX_MODULE_LINES:
                big.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert big == []


# ----------------------------------------------------------------------------- the checker


def _graph_of(tmp_path: Path, files: dict[str, str]) -> ImportGraph:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    graph = ImportGraph()
    for path in sorted(tmp_path.rglob("*.py")):
        parts = list(path.relative_to(tmp_path).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        graph.files[".".join(parts)] = path
    for module, path in graph.files.items():
        tree = ast.parse(path.read_text())
        graph.edges[module] = set(
            import_graph._imports(tree, module, path.name == "__init__.py", graph.files)
        ) - {module}
    return graph


@pytest.mark.parametrize(
    ("b_text", "cyclic"),
    [
        ("from pkg.a import x\n", True),  # module level
        ("def f():\n    from pkg import a\n", True),  # lazy, `from pkg import submodule`
        ("import importlib\nimportlib.import_module('pkg.a')\n", True),
        ("from . import a\n", True),  # relative
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import x\n", False),
        ("import os\n", False),
    ],
)
def test_the_checker_sees_every_kind_of_import(tmp_path: Path, b_text: str, cyclic: bool) -> None:
    graph = _graph_of(
        tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "from pkg.b import y\n", "pkg/b.py": b_text}
    )
    assert bool(graph.cycles()) is cyclic
