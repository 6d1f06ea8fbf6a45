"""YAML that remembers where each value came from, so an error can name the line.

PyYAML's composer gives every node a start mark; we walk the node tree once, build the plain
data with the safe constructor, and keep a map from each JSON-pointer-like path (a tuple of
keys and indices) to the 1-based line of the value (for a mapping entry, the key's line, which
is where a person looks). Duplicate keys, aliases and anything but the safe YAML types are
refused: a declaration must mean one thing, and an alias can multiply a small file into a
huge document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clients.gateway.errors import ConfigError

MAX_FILE_BYTES = 1024 * 1024
Path_ = tuple[str | int, ...]


@dataclass
class Located:
    """A loaded document and the line of every path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    text: str = ""

    def line(self, path: Path_) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def error(self, path: Path_, message: str) -> ConfigError:
        return ConfigError(self.file, self.line(path), dotted(path), message)


def dotted(path: Path_) -> str:
    """``steps[2].mapping`` for ``("steps", 2, "mapping")``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_text(text: str, file: str) -> Located:
    """Parse one YAML document; :class:`ConfigError` with the line on any problem."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ConfigError(file, None, "", f"larger than {MAX_FILE_BYTES} bytes")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(file, 1, "", "the file is empty")
        located = Located(file=file, data=None, text=text)
        _walk(node, (), located, set())
        located.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(file, line, "", f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, None, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return located


def load_file(path: Path, root: Path | None = None) -> Located:
    """Load ``path``; errors name it relative to ``root`` (the gateway folder) if given."""
    name = str(path.relative_to(root)) if root is not None else str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(name, None, "", f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(name, None, "", f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(name, None, "", f"not UTF-8 (byte {exc.start})") from None
    return load_text(text, name)


def _walk(node: yaml.Node, path: Path_, out: Located, seen: set[int]) -> None:
    if id(node) in seen:
        raise ConfigError(out.file, node.start_mark.line + 1, dotted(path), "aliases are refused")
    seen.add(id(node))
    out.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    out.file, key_node.start_mark.line + 1, dotted(path), "keys must be text"
                )
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(
                    out.file, key_node.start_mark.line + 1, dotted(path), "merge keys are refused"
                )
            key = key_node.value
            if key in keys:
                raise ConfigError(
                    out.file,
                    key_node.start_mark.line + 1,
                    dotted((*path, key)),
                    "duplicate key",
                )
            keys.add(key)
            out.lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), out, seen)
