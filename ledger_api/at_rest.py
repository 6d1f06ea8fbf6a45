"""Permissions at rest: the data folder is the API's alone (0700), its secrets 0600.

The index holds break-glass reasons, policy texts and session hashes; the logs name callers
and records. (The API holds no key file: a folder with the former central keys is refused at
start-up, :func:`ledger_api.context.refuse_legacy_central_keys`.) Created with the
default umask they were 0755 / 0644: readable by every account on the host. At start-up the
API checks them, warns about each one that was looser and fixes it (it owns them; a file it
cannot fix is reported, and the start goes on: the operator decides). New files the API
creates later (SQLite's ``-wal``/``-shm``) take the database file's mode.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ledger_api.config import Settings

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "Fixed", "secure_at_rest", "sensitive_paths"]

log = logging.getLogger("ledger_api.at_rest")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# files in the data folder that hold something private (the index, logs, keys, state)
SENSITIVE_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", ".log", ".key", ".enc")


@dataclass(frozen=True)
class Fixed:
    """One path whose mode was looser than it should be (``error`` when it stayed so)."""

    path: Path
    was: int
    now: int
    error: str | None = None


def sensitive_paths(settings: Settings) -> Iterator[tuple[Path, int]]:
    """``(path, wanted mode)`` of what :func:`secure_at_rest` checks, existing ones only."""
    data = settings.data_dir
    if data.is_dir():
        yield data, PRIVATE_DIR
        for child in sorted(data.iterdir()):
            if child.is_file() and child.name.endswith(SENSITIVE_SUFFIXES):
                yield child, PRIVATE_FILE
    database = _sqlite_file(settings.database_url)
    if database is not None and database.parent != data:  # outside the data folder
        for path in (database, *(Path(f"{database}{s}") for s in ("-wal", "-shm"))):
            if path.is_file():
                yield path, PRIVATE_FILE


def secure_at_rest(settings: Settings) -> list[Fixed]:
    """Tighten every sensitive path that grants more than its wanted mode; warn for each."""
    fixed: list[Fixed] = []
    for path, wanted in sensitive_paths(settings):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:  # gone since it was listed
            continue
        if mode & ~wanted == 0:
            continue
        tightened = mode & wanted
        try:
            path.chmod(tightened)
        except OSError as exc:
            fixed.append(Fixed(path, mode, mode, error=str(exc)))
            log.error(
                "%s is mode %o and cannot be made %o: %s",
                path,
                mode,
                tightened,
                exc,
                extra={"path": str(path)},
            )
            continue
        fixed.append(Fixed(path, mode, tightened))
        log.warning(
            "%s was mode %o (readable by others); made it %o",
            path,
            mode,
            tightened,
            extra={"path": str(path), "was": oct(mode), "now": oct(tightened)},
        )
    return fixed


def _sqlite_file(url: str | None) -> Path | None:
    if not url or not url.startswith("sqlite:///"):
        return None
    raw = url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(raw) if raw and raw != ":memory:" else None
