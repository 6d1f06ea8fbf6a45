"""Load the shipped data files, validated against their JSON schemas, with line numbers.

Rules, question trees and tables are data, not code, so a clinician can review and edit them;
an edit that breaks a file must say where. YAML is composed into nodes first (which keep their
line marks), then constructed, then validated with ``jsonschema``; the first error is mapped
back to the node at the failing path, and :class:`DataFileError` names the file, the line and
the dotted field. CSV files are read with the line of each row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from clients.assistant.errors import DataFileError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: 10x faster
DATA_DIR = Path(__file__).resolve().parent / "data"


def data_dir() -> Path:
    """The directory of the shipped data files (inside the installed package)."""
    return DATA_DIR


def relative_name(path: Path) -> str:
    """``path`` relative to the data directory when it lies inside it (for messages)."""
    try:
        return path.relative_to(data_dir()).as_posix()
    except ValueError:
        return str(path)


@cache
def schema(name: str) -> dict[str, Any]:
    """A data-file schema from ``data/schemas/<name>.schema.json``."""
    path = data_dir() / "schemas" / f"{name}.schema.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(loaded)
    return loaded


def _field(path: Iterator[Any] | list[Any]) -> str:
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def _node_line(node: yaml.Node, path: list[Any]) -> int:
    """The 1-based line of the node at ``path`` (the deepest one that exists)."""
    current = node
    for part in path:
        child: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    break
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            child = current.value[part]
        if child is None:
            break
        current = child
    return current.start_mark.line + 1


def _best_error(errors: list[ValidationError]) -> ValidationError:
    """The most specific error: the deepest path, then the first in document order."""
    return max(errors, key=lambda e: (len(e.absolute_path), -errors.index(e)))


def load_yaml(path: Path, schema_name: str) -> tuple[Any, yaml.Node]:
    """Parse, construct and validate one YAML file; returns the data and its node tree."""
    name = relative_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(name, 0, "", f"cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise DataFileError(name, line, "", f"not YAML: {getattr(exc, 'problem', exc)}") from None
    if node is None:
        raise DataFileError(name, 1, "", "the file is empty")
    data = _LOADER("").construct_document(node)
    validate(data, schema_name, name=name, node=node)
    return data, node


def validate(data: Any, schema_name: str, *, name: str, node: yaml.Node | None = None) -> None:
    """Validate ``data`` against a named schema; :class:`DataFileError` on the first error."""
    validator = Draft202012Validator(schema(schema_name))
    errors = list(validator.iter_errors(data))
    if errors:
        error = _best_error(errors)
        path = list(error.absolute_path)
        line = _node_line(node, path) if node is not None else 0
        raise DataFileError(name, line, _field(path), error.message)


def line_of(node: yaml.Node, *path: Any) -> int:
    """The line of the value at ``path`` in a composed YAML tree (for checks beyond schemas)."""
    return _node_line(node, list(path))


def read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a UTF-8 CSV file with exactly ``columns`` as header, each with its line number.

    Lines starting with ``#`` are comments. An empty cell or a short row is refused."""
    name = relative_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(name, 0, "", f"cannot read: {exc}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    lines = [(n, line) for n, line in lines if not line.lstrip().startswith("#")]
    if not lines:
        raise DataFileError(name, 1, "", "the file is empty")
    header_line, header = lines[0]
    found = tuple(next(csv.reader([header])))
    if found != columns:
        raise DataFileError(name, header_line, "header", f"expected {','.join(columns)}")
    rows: list[tuple[int, dict[str, str]]] = []
    for number, line in lines[1:]:
        cells = next(csv.reader([line]))
        if len(cells) != len(columns):
            raise DataFileError(
                name, number, "", f"expected {len(columns)} cells, found {len(cells)}"
            )
        row = dict(zip(columns, (cell.strip() for cell in cells), strict=True))
        for column, value in row.items():
            if not value:
                raise DataFileError(name, number, column, "empty cell")
        rows.append((number, row))
    return rows
