"""LocalBlockStore on a real directory: layout, verification, pins, gc, concurrency."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from storage.blocks import BlockStore, LocalBlockStore
from storage.cid import multihash_key, to_binary
from storage.errors import (
    BlockNotFoundError,
    IntegrityError,
    InvalidCidError,
    NotPinnedError,
    StorageError,
)
from storage.unixfs import CHUNK_SIZE, compute_cid, walk_dag

REPO = Path(__file__).resolve().parents[2]


def payload(size: int, seed: int = 0) -> bytes:
    """Non-repeating bytes, so no two chunks share a block."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += (seed * 1_000_003 + counter).to_bytes(8, "big") * 4
        counter += 1
    return bytes(out[:size])


def block_path(store: LocalBlockStore, cid: bytes) -> Path:
    key = multihash_key(cid)
    return store.root / "blocks" / key[-3:-1] / f"{key}.data"


def test_put_get_round_trip_and_layout(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path / "site")
    assert isinstance(store, BlockStore)
    data = payload(3 * CHUNK_SIZE + 17)
    cid = store.put(io.BytesIO(data))
    assert cid == compute_cid(data)
    assert b"".join(store.get(cid)) == data
    assert store.has(cid)
    assert store.verify(cid) == 5  # 4 leaves + 1 parent
    # flatfs next-to-last/2 layout: blocks/<key[-3:-1]>/<key>.data
    for block in walk_dag(to_binary(cid), store.get_block):
        assert block_path(store, block).is_file()
    assert store.stat(cid).size == block_path(store, to_binary(cid)).stat().st_size
    assert list((tmp_path / "site" / "tmp").iterdir()) == []


def test_small_and_empty_files(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    for data in (b"", b"x", payload(CHUNK_SIZE)):
        cid = store.put(data)
        assert b"".join(store.get(cid)) == data
        assert store.stat(cid).size == len(data)


def test_missing_block_and_bad_cid(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    absent = compute_cid(b"never stored")
    assert not store.has(absent)
    with pytest.raises(BlockNotFoundError, match="is not in"):
        store.get(absent)
    with pytest.raises(BlockNotFoundError):
        store.stat(absent)
    with pytest.raises(InvalidCidError):
        store.get("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")


def test_corrupt_block_is_refused_on_read(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    data = payload(3 * CHUNK_SIZE)
    cid = store.put(data)
    leaves = [c for c in walk_dag(to_binary(cid), store.get_block) if c[1] == 0x55]
    path = block_path(store, leaves[-1])
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    path.write_bytes(bytes(raw))

    stream = store.get(cid)
    # blocks are verified as read: the intact leading chunks stream out, the bad one raises
    assert next(stream) == data[:CHUNK_SIZE]
    assert next(stream) == data[CHUNK_SIZE : 2 * CHUNK_SIZE]
    with pytest.raises(IntegrityError, match="corrupt"):
        next(stream)
    with pytest.raises(IntegrityError):
        store.verify(cid)
    path.write_bytes(bytes(raw[:10]))  # truncated file
    with pytest.raises(IntegrityError):
        store.get_block(leaves[-1])


def test_putting_again_repairs_a_corrupt_copy(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    data = payload(CHUNK_SIZE + 1)
    cid = store.put(data)
    path = block_path(store, to_binary(cid))
    path.write_bytes(b"bit rot")
    assert store.put(data) == cid  # dedup checks the existing copy instead of trusting it
    assert store.verify(cid) == 3


def test_gc_waits_for_a_put_in_flight(tmp_path: Path) -> None:
    """A put paused half-way (blocks in temp files, no pin yet) must not be collected."""
    store = LocalBlockStore(tmp_path)
    store.put(b"unpinned garbage", pin=False)
    data = payload(3 * CHUNK_SIZE, seed=42)
    halfway, resume = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def source():
        yield data[: 2 * CHUNK_SIZE]
        halfway.set()
        resume.wait(10)
        yield data[2 * CHUNK_SIZE :]

    def put() -> None:
        outcome["cid"] = store.put(source())

    def collect() -> None:
        outcome["gc"] = store.gc()

    writer = threading.Thread(target=put)
    writer.start()
    assert halfway.wait(10)
    collector = threading.Thread(target=collect)
    collector.start()
    collector.join(0.5)
    assert collector.is_alive(), "gc ran while a put was in flight"
    resume.set()
    writer.join(10)
    collector.join(10)
    assert b"".join(store.get(outcome["cid"])) == data
    assert outcome["gc"].removed == 1  # only the unpinned block


def test_block_writer_checks_every_block_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    good = to_binary(compute_cid(b"good"))

    def write_one_good_one_bad() -> None:
        with store.block_writer() as add:
            add(good, b"good")
            add(to_binary(compute_cid(b"other")), b"evil")

    with pytest.raises(IntegrityError):
        write_one_good_one_bad()
    assert not store.has(good)  # the batch was aborted before anything became visible
    assert list((tmp_path / "tmp").iterdir()) == []
    with store.block_writer() as add:
        add(good, b"good")
    assert store.get_block(good) == b"good"


def test_put_block_refuses_bytes_that_do_not_match(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    cid = compute_cid(b"right")
    with pytest.raises(IntegrityError, match="refusing"):
        store.put_block(cid, b"wrong")
    assert not store.has(cid)
    store.put_block(cid, b"right")
    assert store.get_block(cid) == b"right"


def test_pins_survive_restart_and_gc_keeps_pinned_dags(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    shared = payload(CHUNK_SIZE, seed=1)
    kept_data = shared + payload(CHUNK_SIZE, seed=2)
    dropped_data = shared + payload(CHUNK_SIZE, seed=3)  # shares its first leaf with kept
    kept = store.put(kept_data)
    dropped = store.put(dropped_data, pin=False)
    loose = store.put(b"loose", pin=False)
    assert store.pins() == frozenset({kept})

    reopened = LocalBlockStore(tmp_path)  # a restart: state comes only from disk
    assert reopened.pins() == frozenset({kept})
    assert [m.name for m in (tmp_path / "pins").iterdir()] == [str(kept)]

    report = reopened.gc()
    assert report.removed == 3  # dropped's root and private leaf, and the loose block
    assert report.kept == 3  # kept's root and both leaves (the shared leaf included)
    assert b"".join(reopened.get(kept)) == kept_data
    assert not reopened.has(dropped)
    assert not reopened.has(loose)

    reopened.unpin(kept)
    with pytest.raises(NotPinnedError):
        reopened.unpin(kept)
    assert reopened.gc().removed == 3
    assert not reopened.has(kept)


def test_pin_requires_the_whole_dag(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    cid = store.put(payload(2 * CHUNK_SIZE), pin=False)
    leaf = next(c for c in walk_dag(to_binary(cid), store.get_block) if c[1] == 0x55)
    block_path(store, leaf).unlink()
    with pytest.raises(BlockNotFoundError, match="cannot pin"):
        store.pin(cid)
    assert store.pins() == frozenset()


def test_gc_refuses_when_a_pinned_dag_is_damaged(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    cid = store.put(payload(2 * CHUNK_SIZE))
    store.put(b"garbage", pin=False)
    block_path(store, to_binary(cid)).write_bytes(b"not the root any more")
    with pytest.raises(StorageError, match="gc refused"):
        store.gc()
    assert store.has(compute_cid(b"garbage"))  # nothing was deleted


def test_leftover_temp_file_from_a_crash_is_harmless(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    cid = store.put(b"record")
    (tmp_path / "tmp" / "half-written.tmp").write_bytes(b"rec")
    assert b"".join(LocalBlockStore(tmp_path).get(cid)) == b"record"
    store.gc()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_concurrent_writers_in_threads(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    data = payload(4 * CHUNK_SIZE + 5)
    results: list[object] = []
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            results.append(LocalBlockStore(tmp_path).put(data))
            results.append(store.put(payload(1000, seed=100 + i)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results.count(compute_cid(data)) == 8
    assert store.verify(compute_cid(data)) == 6
    assert len(store.pins()) == 9
    assert list((tmp_path / "tmp").iterdir()) == []


WRITER = """
import sys
from storage.blocks import LocalBlockStore
from tests.storage.test_blocks import payload
store = LocalBlockStore(sys.argv[1])
for round_ in range(4):
    store.put(payload(3 * 262144 + 1))
    store.put(payload(5000, seed=int(sys.argv[2]) * 10 + round_))
print("ok")
"""


def test_concurrent_writers_in_two_processes(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(i)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.strip() == b"ok"
    store = LocalBlockStore(tmp_path)
    shared = compute_cid(payload(3 * 262144 + 1))
    assert store.verify(shared) == 5
    assert len(store.pins()) == 1 + 8
    for i in range(2):
        for round_ in range(4):
            small = payload(5000, seed=i * 10 + round_)
            assert b"".join(store.get(compute_cid(small))) == small
    assert list((tmp_path / "tmp").iterdir()) == []
