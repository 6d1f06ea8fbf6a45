"""The share outbox: a share's encrypted envelope kept on disk until the API acknowledges it.

Why (issue 17): encryption is randomised, so a share that is encrypted again for a retry is
*different bytes* under the same record id, and the API must refuse it (409
``duplicate_record``: "already exists with other content") even when the first attempt landed
on chain while the client, the API or the chain node was down. A retry is idempotent only if
it sends the same bytes. So before anything is sent, the envelope (header and body files, the
record id and the signed registration's metadata) is written here, fsynced and renamed into
place; it is removed only once the API answered 200/201 for the record, which it does only
after the registration is mined. After a crash of anything, sending the entry again (the same
``share`` call with the same ``record_id``, :meth:`MedLedgerClient.flush_outbox`, or
``medledger outbox flush``) gets the same record back.

Layout: ``<data_dir>/outbox/<record id hex>/{header.cbor,body.bin,meta.json}``. Entries hold
ciphertext only (the API sees the same); the plaintext's SHA-256 is kept to tell a retry of
the same content from a different record given the same id by mistake.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from clients.sdk.errors import ClientError
from clients.sdk.transfer import Source

OUTBOX_DIR = "outbox"
HEADER_FILE = "header.cbor"
BODY_FILE = "body.bin"
META_FILE = "meta.json"
_COPY_CHUNK = 1 << 20


class OutboxError(ClientError):
    """The outbox cannot be used as asked (a different record under the same id, bad files)."""


@dataclass(frozen=True)
class OutboxEntry:
    """One share not yet acknowledged by the API."""

    record_id: str  # 0x-prefixed lowercase hex
    directory: Path
    meta: dict[str, Any]

    @property
    def header_bytes(self) -> bytes:
        return (self.directory / HEADER_FILE).read_bytes()

    @property
    def body_path(self) -> Path:
        return self.directory / BODY_FILE

    @property
    def body_length(self) -> int:
        return self.body_path.stat().st_size

    @property
    def metadata(self) -> dict[str, Any]:
        """The ``metadata`` form field of ``POST /records`` (with the signed registration)."""
        return dict(self.meta["metadata"])

    @property
    def patient(self) -> str:
        return str(self.meta["metadata"]["patient"])

    @property
    def record_type(self) -> str:
        return str(self.meta["metadata"]["record_type"])

    @property
    def deadline(self) -> int:
        return int(self.meta["metadata"]["deadline"])

    def view(self) -> dict[str, Any]:
        """What ``medledger outbox list`` shows."""
        return {
            "record_id": self.record_id,
            "patient": self.patient,
            "record_type": self.record_type,
            "bytes": len(self.header_bytes) + self.body_length,
            "created_at": self.meta.get("created_at"),
            "api": self.meta.get("api"),
            "author": self.meta.get("author"),
            "deadline": self.deadline,
            "attempts": int(self.meta.get("attempts", 0)),
            "last_error": self.meta.get("last_error"),
        }


def record_key(record_id: bytes | str) -> str:
    """A record id as the outbox names it: ``0x`` + 64 lowercase hex digits."""
    if isinstance(record_id, bytes | bytearray):
        return "0x" + bytes(record_id).hex()
    text = record_id.lower()
    if not text.startswith("0x"):
        text = "0x" + text
    if len(text) != 66 or any(c not in "0123456789abcdef" for c in text[2:]):
        raise OutboxError(f"not a record id: {record_id!r}")
    return text


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(value, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Outbox:
    """The outbox of one data directory (``<data_dir>/outbox``); safe across processes as
    long as one record id is shared by one process at a time."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    @classmethod
    def of_data_dir(cls, data_dir: str | Path) -> Outbox:
        return cls(Path(data_dir).expanduser() / OUTBOX_DIR)

    def _path(self, record_id: bytes | str) -> Path:
        return self.directory / record_key(record_id)

    def get(self, record_id: bytes | str) -> OutboxEntry | None:
        path = self._path(record_id)
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OutboxError(f"unreadable outbox entry {path}: {exc}") from None
        if not (path / HEADER_FILE).is_file() or not (path / BODY_FILE).is_file():
            raise OutboxError(f"outbox entry {path} lacks its header or body file")
        return OutboxEntry(record_id=record_key(record_id), directory=path, meta=meta)

    def entries(self) -> list[OutboxEntry]:
        """Every entry, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for child in self.directory.iterdir():
            if child.name.startswith("0x") and child.is_dir():
                entry = self.get(child.name)
                if entry is not None:
                    found.append(entry)
        return sorted(found, key=lambda e: (e.meta.get("created_at", 0), e.record_id))

    def put(
        self, *, record_id: bytes, header_bytes: bytes, body: IO[bytes], meta: dict[str, Any]
    ) -> OutboxEntry:
        """Keep a share's envelope durably (all files fsynced, the entry renamed into place
        in one step: a crash leaves either a whole entry or none)."""
        target = self._path(record_id)
        if target.exists():
            raise OutboxError(f"the outbox already holds record {record_key(record_id)}")
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.directory))
        try:
            with open(staging / HEADER_FILE, "wb") as handle:
                handle.write(header_bytes)
                handle.flush()
                os.fsync(handle.fileno())
            body.seek(0)
            with open(staging / BODY_FILE, "wb") as handle:
                while chunk := body.read(_COPY_CHUNK):
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            body.seek(0)
            full = {"created_at": time.time(), "attempts": 0, **meta}
            _write_json(staging / META_FILE, full)
            os.rename(staging, target)
            _fsync_dir(self.directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return OutboxEntry(record_id=record_key(record_id), directory=target, meta=full)

    def update(self, entry: OutboxEntry, **changes: Any) -> OutboxEntry:
        """The entry with ``changes`` to its metadata (a new signature, an attempt noted)."""
        meta = {**entry.meta, **changes}
        _write_json(entry.directory / META_FILE, meta)
        return OutboxEntry(record_id=entry.record_id, directory=entry.directory, meta=meta)

    def remove(self, record_id: bytes | str) -> bool:
        """Forget an entry (acknowledged, or dropped by the user); False if there was none."""
        path = self._path(record_id)
        if not path.exists():
            return False
        # rename first: a crash mid-delete leaves no half entry that looks whole
        trash = self.directory / f".removed-{path.name}-{os.getpid()}"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(OSError):
            _fsync_dir(self.directory)
        return True

    @contextlib.contextmanager
    def body(self, entry: OutboxEntry) -> Iterator[IO[bytes]]:
        with open(entry.body_path, "rb") as handle:
            yield handle


def source_digest(source: Source) -> str | None:
    """SHA-256 of the plaintext (None for a stream that cannot be rewound): kept with an
    outbox entry so a retry under the same id can be told from a different record."""
    digest = hashlib.sha256()
    if isinstance(source, bytes | bytearray | memoryview):
        digest.update(source)
        return digest.hexdigest()
    if isinstance(source, Path | str):
        try:
            with open(source, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            raise ClientError(f"cannot read {source}: {exc.strerror}") from None
        return digest.hexdigest()
    if not source.seekable():
        return None
    start = source.tell()
    while chunk := source.read(1 << 20):
        digest.update(chunk)
    source.seek(start)
    return digest.hexdigest()


def check_retry(entry: OutboxEntry, source: Source, *, patient: str, record_type: str) -> None:
    """A share under an id the outbox holds must be the same record, or it is refused (sending
    the kept bytes for different content would silently share the wrong thing)."""
    same = entry.patient.lower() == patient.lower() and entry.record_type == record_type
    kept = entry.meta.get("source_sha256")
    if same and kept is not None:
        same = source_digest(source) in (kept, None)
    if not same:
        raise OutboxError(
            f"the outbox holds a different share under record id {entry.record_id}; "
            "send it (medledger outbox flush) or drop it (medledger outbox drop) first"
        )
