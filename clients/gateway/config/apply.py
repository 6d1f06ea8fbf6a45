"""``gateway diff`` / ``apply`` / ``history`` / ``rollback``: configuration as versioned files.

``apply`` loads and checks the folder (nothing half-valid is applied), and if its digest
differs from the last applied one, records it through a
:class:`~clients.gateway.sink.digest.DigestRecorder` (on chain once wired) and keeps a copy
of the files in the state folder, so ``diff`` can show what changed since and ``rollback``
can restore an earlier version (which is then applied as a new version: history only grows).
"""

from __future__ import annotations

import difflib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from clients.gateway.config.project import declaration_files, digest_of, load_project
from clients.gateway.errors import GatewayError
from clients.gateway.sink.digest import DigestRecorder, LocalRecorder
from clients.gateway.store import Store


@dataclass
class Applied:
    seq: int
    digest: str
    version: str
    applied_at: float
    recorded: str | None
    changed: bool


def _store(root: Path) -> Store:
    project = load_project(root)
    return Store(project.state_dir / "state.db")


def current_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in declaration_files(root)}


def last_applied(store: Store) -> dict[str, object] | None:
    rows = store.query("SELECT * FROM applied ORDER BY seq DESC LIMIT 1")
    return dict(rows[0]) if rows else None


def snapshot_dir(root: Path, store: Store, seq: int) -> Path:
    return store.path.parent / "applied" / str(seq)


def diff(root: Path) -> list[str]:
    """Unified diff lines from the last applied version to the folder (empty: no change)."""
    root = Path(root)
    store = _store(root)
    last = last_applied(store)
    before: dict[str, bytes] = {}
    if last is not None:
        for name in json.loads(str(last["files"])):
            path = snapshot_dir(root, store, int(last["seq"])) / name  # type: ignore[arg-type]
            before[name] = path.read_bytes()
    after = current_files(root)
    lines: list[str] = []
    for name in sorted(set(before) | set(after)):
        a = before.get(name, b"").decode("utf-8").splitlines(keepends=True)
        b = after.get(name, b"").decode("utf-8").splitlines(keepends=True)
        if a != b:
            lines.extend(
                difflib.unified_diff(
                    a,
                    b,
                    fromfile=f"applied/{name}" if name in before else "/dev/null",
                    tofile=name if name in after else "/dev/null",
                )
            )
    return lines


def apply(
    root: Path, *, recorder: DigestRecorder | None = None, version: str | None = None
) -> Applied:
    root = Path(root)
    project = load_project(root)  # refuses an invalid folder before anything is written
    store = Store(project.state_dir / "state.db")
    files = current_files(root)
    digest = digest_of(files)
    last = last_applied(store)
    if last is not None and last["digest"] == digest:
        return Applied(
            int(last["seq"]),
            digest,
            str(last["version"]),
            float(last["applied_at"]),  # type: ignore[arg-type]
            last["recorded"],
            changed=False,
        )  # type: ignore[arg-type]
    label = version or f"{project.settings.raw['version']}+{digest[2:14]}"
    recorded = (recorder or LocalRecorder()).record(project.settings.name, label, digest)
    now = time.time()
    with store.tx() as db:
        seq = int(
            db.execute(
                "INSERT INTO applied (digest, version, applied_at, recorded, files)"
                " VALUES (?, ?, ?, ?, ?)",
                (digest, label, now, recorded, json.dumps(sorted(files))),
            ).lastrowid
            or 0
        )
    target = snapshot_dir(root, store, seq)
    for name, data in files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    return Applied(seq, digest, label, now, recorded, changed=True)


def history(root: Path) -> list[dict[str, object]]:
    store = _store(root)
    return [
        dict(r)
        for r in store.query(
            "SELECT seq, digest, version, applied_at, recorded FROM applied ORDER BY seq"
        )
    ]


def rollback(root: Path, seq: int, *, recorder: DigestRecorder | None = None) -> Applied:
    """Put the files of applied version ``seq`` back in the folder and apply them."""
    root = Path(root)
    store = _store(root)
    rows = store.query("SELECT files FROM applied WHERE seq = ?", seq)
    if not rows:
        raise GatewayError(f"no applied version {seq}")
    source = snapshot_dir(root, store, seq)
    names = json.loads(rows[0]["files"])
    for path in declaration_files(root):
        if str(path.relative_to(root)) not in names:
            path.unlink()
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, root / name)
    return apply(root, recorder=recorder, version=f"rollback-to-{seq}")
