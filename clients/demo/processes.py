"""The demo's key authority processes, found again by their ``serve.json`` and stopped.

Below both :mod:`clients.demo.stack` (which stops what a run started, and everything with
``medledger demo --stop``) and :mod:`clients.demo.authorities` (which starts them).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from ledger_api.chain.devnode import process_alive, terminate

AUTHORITY_STOP_TIMEOUT = 10.0


def authorities_root(data_dir: Path) -> Path:
    """Where the demo keeps each institution's authority folder (``<code>/``)."""
    return data_dir / "authorities"


def is_authority_serve(pid: int) -> bool:
    """``pid`` is alive and is a ``medledger authority serve`` (not a reused pid)."""
    if not process_alive(pid):
        return False
    with contextlib.suppress(OSError):
        return b"authority\x00serve" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return True


def stop_authority(state_file: Path) -> int | None:
    """SIGTERM the authority recorded in ``state_file`` (``serve.json``); its pid, or None."""
    try:
        pid = int(json.loads(state_file.read_text())["pid"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    state_file.unlink(missing_ok=True)
    return pid if terminate_authority(pid) else None


def stop_authorities(data_dir: Path) -> list[int]:
    """Stop every key authority recorded under ``data_dir``; their pids."""
    stopped = []
    for state in sorted(authorities_root(data_dir).glob("*/serve.json")):
        pid = stop_authority(state)
        if pid is not None:
            stopped.append(pid)
    return stopped


def terminate_authority(pid: int) -> bool:
    """SIGTERM ``pid`` if it is an ``authority serve`` (SIGKILL after a grace); True if so."""
    if not is_authority_serve(pid):
        return False
    terminate(pid, timeout=AUTHORITY_STOP_TIMEOUT)
    return True


__all__ = [
    "authorities_root",
    "is_authority_serve",
    "stop_authorities",
    "stop_authority",
    "terminate_authority",
]
