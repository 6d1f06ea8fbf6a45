"""``LocalBlockStore.put_many``: several files made durable and pinned together (a record's
body and header), with exactly the CIDs, pins and contents separate ``put`` calls give."""

from __future__ import annotations

import io
import os
from pathlib import Path

from storage.blocks import LocalBlockStore
from storage.unixfs import CHUNK_SIZE, compute_cid


def test_put_many_equals_separate_puts(tmp_path: Path) -> None:
    body = os.urandom(3 * CHUNK_SIZE + 123)  # a DAG of four leaves and a root
    header = os.urandom(900)  # one raw block
    together = LocalBlockStore(tmp_path / "together")
    apart = LocalBlockStore(tmp_path / "apart")

    cids = together.put_many([io.BytesIO(body), header], pin=True)

    assert cids == [apart.put(io.BytesIO(body)), apart.put(header)]
    assert cids == [compute_cid(body), compute_cid(header)]
    assert together.pins() == frozenset(cids)
    assert b"".join(together.get(cids[0])) == body
    assert b"".join(together.get(cids[1])) == header
    assert together.verify(cids[0]) == 5
    assert sorted(p.name for p in (together.root / "blocks").rglob("*.data")) == sorted(
        p.name for p in (apart.root / "blocks").rglob("*.data")
    )
    assert list((together.root / "tmp").iterdir()) == []  # nothing staged is left behind


def test_put_many_of_content_already_held_keeps_it_and_pins_it(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    first = store.put(b"held already", pin=False)
    cids = store.put_many([b"held already", b"new"], pin=True)
    assert cids[0] == first
    assert store.pins() == frozenset(cids)
    assert store.gc().removed == 0
    assert store.put_many([], pin=True) == []


def test_unpinned_put_many_leaves_blocks_for_gc(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    cids = store.put_many([b"a", b"b"], pin=False)
    assert store.pins() == frozenset()
    assert all(store.has(cid) for cid in cids)
    assert store.gc().removed == 2
