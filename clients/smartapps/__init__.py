"""The reference SMART apps (static files the API serves under ``/apps/``) and their
manifests, filled for the origin they are served from.

``manifest.json`` beside an app carries placeholders, because the URLs an administrator
approves depend on where the demo or a test serves the app: ``{base}`` (the app's folder URL,
e.g. ``http://localhost:8000/apps/bp_chart``: the API serves this folder at ``/apps/``) and
``{package_digest}`` (the SHA-256 over the app's files,
computed here, so the listing pins exactly the code that is served).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

APPS = Path(__file__).resolve().parent
BP_CHART = APPS / "bp_chart"


def package_digest(app_dir: Path) -> str:
    """SHA-256 over each file's name and SHA-256 (sorted; manifest.json excluded: it holds
    the result)."""
    outer = hashlib.sha256()
    for path in sorted(p for p in app_dir.iterdir() if p.is_file() and p.name != "manifest.json"):
        if path.suffix in {".py", ".pyc"}:
            continue
        outer.update(f"{path.name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return outer.hexdigest()


def served_at(origin: str, app_dir: Path = BP_CHART) -> str:
    """Where the API serves the app from ``origin`` (``/apps/<folder>``)."""
    return f"{origin.rstrip('/')}/apps/{app_dir.name}"


def manifest(base: str, app_dir: Path = BP_CHART) -> dict[str, Any]:
    """The app's manifest with ``{base}`` (the app's folder URL) and the package digest filled."""
    text = (app_dir / "manifest.json").read_text(encoding="utf-8")
    text = text.replace("{base}", base.rstrip("/"))
    text = text.replace("{package_digest}", package_digest(app_dir))
    document: dict[str, Any] = json.loads(text)
    return document


def software(app_dir: Path = BP_CHART) -> dict[str, str]:
    """The listing the app registers with (``software_id`` = app id, ``software_version``)."""
    data: dict[str, str] = json.loads((app_dir / "software.json").read_text(encoding="utf-8"))
    return data


__all__ = ["BP_CHART", "manifest", "package_digest", "served_at", "software"]
