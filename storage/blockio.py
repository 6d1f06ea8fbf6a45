"""Durable, batched block-file writes for :class:`storage.blocks.LocalBlockStore`.

A block becomes visible only through ``rename`` of a fully written, fsynced temporary file,
and the rename is made durable by fsyncing the directory. Doing that one block at a time
costs two serial fsyncs and a file creation per 256 KiB, which on a journaling filesystem is
far slower than the disk; here creation, writing and fsync run on a small thread pool while
the importer keeps hashing, and renames and directory fsyncs happen per batch.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_fsync_pool: ThreadPoolExecutor | None = None
_fsync_pool_pid = 0
_fsync_pool_lock = threading.Lock()


def _parallel(fn: Callable[[_T], object], items: Iterable[_T]) -> None:
    """Run blocking syscalls (fsync) side by side: the filesystem folds concurrent fsyncs into
    one journal commit, so 64 of them cost a few single ones instead of 64."""
    items = list(items)
    if len(items) <= 1:
        for item in items:
            fn(item)
        return
    for _ in _pool().map(fn, items):
        pass


def _pool() -> ThreadPoolExecutor:
    """The shared I/O pool, recreated in a forked child (whose copy has no threads)."""
    global _fsync_pool, _fsync_pool_pid
    with _fsync_pool_lock:
        if _fsync_pool is None or _fsync_pool_pid != os.getpid():
            _fsync_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="blocks-io")
            _fsync_pool_pid = os.getpid()
        return _fsync_pool


def _stage(tmp_dir: Path, prefix: str, data: bytes, fsync: bool) -> str:
    """Write ``data`` to a fresh temporary file and fsync it; return the file's path."""
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=prefix, suffix=".tmp")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


class WriteBatch:
    """Blocks staged in temporary files by a thread pool, then made visible together.

    Per block the order is the classic one — write, fsync, rename, fsync the directory — but
    creating, writing and fsyncing run on worker threads while the importer hashes the next
    chunks (file creation and fsync dominate on a journaling filesystem, and concurrent
    fsyncs share journal commits). At most ``limit`` blocks are in flight, so memory stays
    bounded (``limit`` x 256 KiB).
    """

    def __init__(
        self,
        *,
        tmp_dir: Path,
        blocks_dir: Path,
        path_of: Callable[[bytes], Path],
        is_intact: Callable[[bytes, Path], bool],
        replace: bool,
        fsync: bool = True,
        limit: int = 64,
    ) -> None:
        self._tmp_dir = tmp_dir
        self._blocks_dir = blocks_dir
        self._path_of = path_of
        self._is_intact = is_intact
        self._replace = replace
        self._fsync = fsync
        self._limit = limit
        self._pending: dict[Path, Future[str]] = {}
        self._new_shards = False

    def add(self, cid: bytes, data: bytes | memoryview) -> None:
        path = self._path_of(cid)
        if path in self._pending:
            return
        if not self._replace and path.exists() and self._is_intact(cid, path):
            return  # deduplicated; a corrupt copy falls through and is replaced
        if not path.parent.is_dir():
            path.parent.mkdir(exist_ok=True)
            self._new_shards = True
        self._pending[path] = _pool().submit(
            _stage, self._tmp_dir, path.stem[-8:], bytes(data), self._fsync
        )
        if len(self._pending) >= self._limit:
            self.flush()

    def _settle(self) -> dict[Path, str]:
        """Wait for every staged write; on any failure remove them all and re-raise."""
        pending, self._pending = self._pending, {}
        staged: dict[Path, str] = {}
        failure: BaseException | None = None
        for path, future in pending.items():
            try:
                staged[path] = future.result()
            except BaseException as exc:
                failure = failure or exc
        if failure is not None:
            for tmp in staged.values():
                Path(tmp).unlink(missing_ok=True)
            raise failure
        return staged

    def flush(self) -> None:
        staged = self._settle()
        if not staged:
            return
        for path, tmp in staged.items():
            os.replace(tmp, path)
        if self._fsync:
            if self._new_shards:
                fsync_dir(self._blocks_dir)
                self._new_shards = False
            _parallel(fsync_dir, {path.parent for path in staged})

    def abort(self) -> None:
        try:
            staged = self._settle()
        except BaseException:
            return
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)
