"""The import graph of the project's own packages, read from the source with ``ast``.

Counted as an import: a module-level ``import``/``from … import``, one inside a function or
method (a lazy import is still a dependency: it only moves the failure to run time), and
``importlib.import_module("literal")``. Not counted unless ``build(type_checking=True)``:
imports under ``if TYPE_CHECKING:``, which never run. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module of ours, else to ``pkg``; relative imports are resolved
against the importing module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "crypto", "storage", "ledger_api", "clients")


@dataclass
class ImportGraph:
    """Modules of ours (dotted names) and, for each, the modules of ours it imports."""

    files: dict[str, Path] = field(default_factory=dict)
    edges: dict[str, set[str]] = field(default_factory=dict)

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one module (Tarjan), each sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []
        counter = 0

        def visit(start: str) -> None:
            nonlocal counter
            work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(self.edges[start])))]
            index[start] = low[start] = counter
            counter += 1
            stack.append(start)
            on_stack.add(start)
            while work:
                node, children = work[-1]
                child = next(children, None)
                if child is not None:
                    if child not in index:
                        index[child] = low[child] = counter
                        counter += 1
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(sorted(self.edges[child]))))
                    elif child in on_stack:
                        low[node] = min(low[node], index[child])
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

        for module in sorted(self.edges):
            if module not in index:
                visit(module)
        return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def build(packages: tuple[str, ...] = PACKAGES, *, type_checking: bool = False) -> ImportGraph:
    """The graph of ``packages``; ``type_checking`` counts the imports under
    ``if TYPE_CHECKING:`` too (a cycle through them makes types circular even if no run is)."""
    graph = ImportGraph()
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "node_modules" in path.parts or "migrations" in path.parts:
                continue
            graph.files[module_name(path)] = path
    for module, path in graph.files.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph.edges[module] = {
            target
            for target in _imports(tree, module, is_package, graph.files, type_checking)
            if target != module
        }
    return graph


def _imports(
    tree: ast.Module,
    module: str,
    is_package: bool,
    known: dict[str, Path],
    type_checking: bool = False,
) -> Iterator[str]:
    for node in _runtime_nodes(tree, type_checking):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _ours(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield from _ours(candidate if candidate in known else base, known)
        elif isinstance(node, ast.Call) and _is_import_module(node):
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                yield from _ours(argument.value, known)


def _runtime_nodes(tree: ast.AST, type_checking: bool = False) -> Iterator[ast.AST]:
    """Every node except the bodies of ``if TYPE_CHECKING:`` blocks (kept with
    ``type_checking``)."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if not type_checking and isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _is_import_module(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "import_module" and bool(call.args)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
    return ".".join([*parts, node.module] if node.module else parts)


def _ours(name: str, known: dict[str, Path]) -> Iterator[str]:
    """The longest prefix of ``name`` that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            yield candidate
            return
        parts.pop()
