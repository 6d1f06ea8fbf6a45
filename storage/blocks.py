"""Block stores: the protocol every store speaks, and the embedded :class:`LocalBlockStore`.

The API stores a record's header and body with :meth:`BlockStore.put`, registers the
returned CID on chain, and later streams them back with :meth:`BlockStore.get`. Because the
CID is exactly what ``ipfs add --cid-version=1 --raw-leaves`` prints, a deployment can move
from the local store to Kubo (or mirror both) without touching what the chain says.

``LocalBlockStore`` lays blocks out like Kubo's flatfs (``next-to-last/2`` sharding of the
base32 multihash key), so the directory is easy to inspect and to import into Kubo. Its
durability rules, in order of what a crash can interrupt:

- a block is written to a unique temporary file, fsynced, renamed into place (atomic), and
  the directory fsynced: a reader sees the whole block or no block, never half of one, and
  concurrent writers of the same content (threads or processes) just rename identical bytes;
- blocks are staged (created, written, fsynced) by a thread pool while the importer hashes
  on, then renamed and their directories fsynced in batches of up to 64: the same order
  per block, a fraction of the latency;
- a pin is an empty file ``pins/<cid>``, created (atomic) only after its DAG is durable, so
  pins survive restarts and pinning costs O(1) however many records there are;
- ``gc()`` takes an exclusive lock that every ``put``/``pin`` holds shared, so a block that
  was just written but is not pinned yet cannot be collected under the writer's feet;
- every read re-hashes the block and raises :class:`IntegrityError` on a mismatch.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from multiformats import CID

from storage.blockio import WriteBatch, fsync_dir
from storage.cid import (
    CidLike,
    block_cid,
    check_binary_cid,
    cid_text,
    codec_of,
    multihash_key,
    to_binary,
    to_cid,
    verify_block,
)
from storage.errors import BlockNotFoundError, IntegrityError, NotPinnedError, StorageError
from storage.unixfs import ByteSource, import_file, open_file, walk_dag


@dataclass(frozen=True, slots=True)
class BlockStat:
    """Size of one block (not of the file below it), as Kubo's ``block/stat`` reports."""

    cid: CID
    size: int


@dataclass(frozen=True, slots=True)
class GcReport:
    """What a garbage collection removed and kept."""

    removed: int
    kept: int
    bytes_freed: int


@runtime_checkable
class BlockStore(Protocol):
    """What the API needs from a content-addressed store. All CIDs are CIDv1 sha2-256."""

    def put(self, stream: ByteSource, *, pin: bool = True) -> CID:
        """Import a byte stream as a UnixFS file; return its root CID (pinned by default)."""
        ...

    def get(self, cid: CidLike) -> Iterator[bytes]:
        """Stream a file back; each block is verified against its hash before it is yielded."""
        ...

    def has(self, cid: CidLike) -> bool:
        """Whether the block named by ``cid`` is held here (the DAG below it is not checked)."""
        ...

    def pin(self, cid: CidLike) -> None:
        """Pin ``cid`` and, recursively, its DAG; every block must already be present."""
        ...

    def unpin(self, cid: CidLike) -> None:
        """Remove a recursive pin; raises :class:`NotPinnedError` if there was none."""
        ...

    def pins(self) -> frozenset[CID]:
        """The recursively pinned roots."""
        ...

    def stat(self, cid: CidLike) -> BlockStat:
        """Size of the block named by ``cid``."""
        ...

    def verify(self, cid: CidLike) -> int:
        """Re-hash every block of the DAG; return how many were checked or raise."""
        ...

    def get_block(self, cid: CidLike) -> bytes:
        """One block's bytes, verified (:class:`IntegrityError` / :class:`BlockNotFoundError`)."""
        ...

    def put_block(self, cid: CidLike, data: bytes, *, replace: bool = False) -> None:
        """Store one block under ``cid`` (refused if it does not hash to it); ``replace``
        overwrites a copy already there, which is how a corrupt copy gets repaired."""
        ...


class LocalBlockStore:
    """Blocks as files under ``root`` (see the module docstring for the on-disk rules)."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self._fsync = fsync
        self._blocks = self.root / "blocks"
        self._tmp = self.root / "tmp"
        self._pins = self.root / "pins"
        self._ensure_dirs()

    def _ensure_dirs(self) -> None:
        # Re-run before every write: a site whose directory was wiped must be repairable.
        for directory in (self.root, self._blocks, self._tmp, self._pins):
            directory.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlockStore({str(self.root)!r})"

    @contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        """``flock`` on ``.gc.lock``: writers share it, gc holds it alone. One descriptor per
        call, so threads of one process contend like separate processes do."""
        self._ensure_dirs()
        fd = os.open(self.root / ".gc.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _batch(self, *, replace: bool) -> Iterator[WriteBatch]:
        batch = WriteBatch(
            tmp_dir=self._tmp,
            blocks_dir=self._blocks,
            path_of=self._path,
            is_intact=self._intact,
            replace=replace,
            fsync=self._fsync,
        )
        try:
            yield batch
            batch.flush()
        except BaseException:
            batch.abort()
            raise

    @contextmanager
    def block_writer(self) -> Iterator[Callable[[bytes, bytes | memoryview], None]]:
        """Yield ``add(binary_cid, data)`` for storing many blocks as batches (gc held off).

        Each block is checked against its CID; all are durable when the ``with`` exits.
        This is how a mirror writes one import to several sites without per-block fsyncs.
        """
        with self._lock(fcntl.LOCK_SH), self._batch(replace=False) as batch:

            def add(cid: bytes, data: bytes | memoryview) -> None:
                verify_block(check_binary_cid(cid), data, where="offered to block_writer")
                batch.add(cid, data)

            yield add

    # --- blocks -------------------------------------------------------------------------

    def _path(self, cid: bytes) -> Path:
        key = multihash_key(cid)
        return self._blocks / key[-3:-1] / f"{key}.data"

    def _load(self, cid: bytes) -> bytes:
        path = self._path(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlockNotFoundError(f"block {cid_text(cid)} is not in {self!r}") from None
        verify_block(cid, data, where=str(path))
        return data

    def _intact(self, cid: bytes, path: Path) -> bool:
        try:
            verify_block(cid, path.read_bytes())
        except (OSError, IntegrityError):
            return False
        return True

    def get_block(self, cid: CidLike) -> bytes:
        return self._load(to_binary(cid))

    def put_block(self, cid: CidLike, data: bytes, *, replace: bool = False) -> None:
        binary = to_binary(cid)
        if block_cid(data, codec_of(binary)) != binary:
            raise IntegrityError(f"refusing to store bytes under {cid_text(binary)}: hash differs")
        with self._lock(fcntl.LOCK_SH), self._batch(replace=replace) as batch:
            batch.add(binary, data)

    def has(self, cid: CidLike) -> bool:
        return self._path(to_binary(cid)).is_file()

    def stat(self, cid: CidLike) -> BlockStat:
        binary = to_binary(cid)
        try:
            size = self._path(binary).stat().st_size
        except FileNotFoundError:
            raise BlockNotFoundError(f"block {cid_text(binary)} is not in {self!r}") from None
        return BlockStat(cid=to_cid(binary), size=size)

    # --- files --------------------------------------------------------------------------

    def put(self, stream: ByteSource, *, pin: bool = True) -> CID:
        return self.put_many([stream], pin=pin)[0]

    def put_many(self, streams: Sequence[ByteSource], *, pin: bool = True) -> list[CID]:
        """:meth:`put` of several files at once (a record's body and header): their blocks are
        made durable together and their pins with one directory fsync, so the serial fsyncs
        of a share are those of one file, not of two. Same order per file: all blocks
        durable, then the pin."""
        with self._lock(fcntl.LOCK_SH):
            with self._batch(replace=False) as batch:
                results = [import_file(stream, sink=batch.add) for stream in streams]
            if pin:  # only once every block is durable
                self._add_pins([result.binary for result in results])
        return [result.cid for result in results]

    def get(self, cid: CidLike) -> Iterator[bytes]:
        return open_file(to_binary(cid), self._load)

    def verify(self, cid: CidLike) -> int:
        checked = 0
        for block in walk_dag(to_binary(cid), self._load):
            self._load(block)
            checked += 1
        return checked

    # --- pins: one empty file per recursively pinned root, pins/<cid> ----------------------

    def _add_pins(self, cids: Sequence[bytes]) -> None:
        created = False
        for cid in cids:
            marker = self._pins / cid_text(cid)
            if marker.exists():
                continue
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644)  # creation is atomic
            os.close(fd)
            created = True
        if created and self._fsync:
            fsync_dir(self._pins)

    def _read_pins(self) -> set[bytes]:
        pins: set[bytes] = set()
        for marker in self._pins.iterdir():
            try:
                pins.add(to_binary(marker.name))
            except StorageError:
                continue  # not ours (an editor's backup file, say): never a reason to fail
        return pins

    def pin(self, cid: CidLike) -> None:
        binary = to_binary(cid)
        with self._lock(fcntl.LOCK_SH):
            for block in walk_dag(binary, self._load):
                if not self._path(block).is_file():
                    raise BlockNotFoundError(
                        f"cannot pin {cid_text(binary)}: block {cid_text(block)} is missing"
                    )
            self._add_pins([binary])

    def unpin(self, cid: CidLike) -> None:
        binary = to_binary(cid)
        with self._lock(fcntl.LOCK_SH):
            try:
                (self._pins / cid_text(binary)).unlink()
            except FileNotFoundError:
                raise NotPinnedError(f"{cid_text(binary)} is not pinned in {self!r}") from None
            if self._fsync:
                fsync_dir(self._pins)

    def pins(self) -> frozenset[CID]:
        self._ensure_dirs()
        return frozenset(to_cid(c) for c in self._read_pins())

    def is_pinned(self, cid: CidLike) -> bool:
        return (self._pins / cid_text(to_binary(cid))).exists()

    # --- garbage collection -------------------------------------------------------------

    def gc(self) -> GcReport:
        """Delete every block not reachable from a pin, and stale temporary files.

        Refuses (raising, deleting nothing) when a pinned DAG cannot be walked, because an
        unreadable parent hides which children are still needed: repair first.
        """
        with self._lock(fcntl.LOCK_EX):
            keep: set[str] = set()
            for root in self._read_pins():
                try:
                    keep.update(multihash_key(c) for c in walk_dag(root, self._load))
                except StorageError as exc:
                    raise StorageError(
                        f"gc refused: pinned DAG {cid_text(root)} is incomplete ({exc})"
                    ) from exc
            removed = kept = freed = 0
            for shard in self._blocks.iterdir():
                for path in shard.glob("*.data"):
                    if path.stem in keep:
                        kept += 1
                        continue
                    freed += path.stat().st_size
                    path.unlink()
                    removed += 1
            for stale in self._tmp.iterdir():  # writers hold the lock shared: none running
                stale.unlink(missing_ok=True)
            return GcReport(removed=removed, kept=kept, bytes_freed=freed)
