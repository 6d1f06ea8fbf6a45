"""Write generated files, or check that the committed ones are up to date (``--check``).

Shared by the exporters that turn Python definitions into files the wallet web app builds
from or tests against (``export_eip712.py``, ``export_fame.py``, ``export_cids.py``,
``export_registration.py``, ``export_tdh2.py``): one rendering (sorted, indented JSON with a
final newline, so diffs stay readable) and one write-or-check loop, so both scripts fail a
stale check the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def sync(
    outputs: Callable[[], dict[Path, str]], *, script: str, doc: str, argv: list[str] | None
) -> int:
    """Write every stale output, or with ``--check`` write nothing and exit 1 naming them."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a committed file is stale; write nothing"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        names = ", ".join(str(p) for p in stale)
        print(f"stale: {names}; run python scripts/{script}", file=sys.stderr)
        return 1
    return 0
