"""MirroredBlockStore over two real LocalBlockStore directories (the two consortium sites)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storage.blocks import BlockStore, LocalBlockStore
from storage.cid import multihash_key, to_binary
from storage.errors import BlockNotFoundError, IntegrityError, NotPinnedError
from storage.mirror import MirroredBlockStore
from storage.unixfs import CHUNK_SIZE, compute_cid, walk_dag
from tests.storage.test_blocks import payload


def block_file(store: LocalBlockStore, cid: bytes) -> Path:
    key = multihash_key(cid)
    return store.root / "blocks" / key[-3:-1] / f"{key}.data"


def flip_a_bit(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))


@pytest.fixture
def sites(tmp_path: Path) -> tuple[LocalBlockStore, LocalBlockStore, MirroredBlockStore]:
    a = LocalBlockStore(tmp_path / "cd3h")  # tertiary hospital site
    b = LocalBlockStore(tmp_path / "pujiang")  # county consortium site
    return a, b, MirroredBlockStore(a, b)


def test_put_writes_and_pins_on_every_site(sites) -> None:
    a, b, mirror = sites
    assert isinstance(mirror, BlockStore)
    data = payload(2 * CHUNK_SIZE + 3)
    cid = mirror.put(data)
    for site in (a, b):
        assert b"".join(site.get(cid)) == data
        assert site.pins() == frozenset({cid})
        assert site.verify(cid) == 4
    assert mirror.stat(cid).size == a.stat(cid).size


def test_corrupt_block_on_primary_is_served_from_replica_and_repaired(sites) -> None:
    a, b, mirror = sites
    data = payload(3 * CHUNK_SIZE)
    cid = mirror.put(data)
    leaf = [c for c in walk_dag(to_binary(cid), a.get_block) if c[1] == 0x55][1]
    flip_a_bit(block_file(a, leaf))
    with pytest.raises(IntegrityError):
        a.verify(cid)

    assert b"".join(mirror.get(cid)) == data
    assert mirror.repaired == 1
    assert a.verify(cid) == 4  # the primary's copy was rewritten with good bytes
    assert b"".join(a.get(cid)) == data
    assert b.verify(cid) == 4


def test_corrupt_block_on_replica_is_repaired_by_verify(sites) -> None:
    a, b, mirror = sites
    cid = mirror.put(payload(2 * CHUNK_SIZE, seed=7))
    flip_a_bit(block_file(b, to_binary(cid)))  # the replica's root node
    assert b"".join(mirror.get(cid)) == b"".join(a.get(cid))  # served by the primary
    assert mirror.repaired == 0  # a read that the primary answers does not look at b
    assert mirror.verify(cid) == 3
    assert mirror.repaired == 1
    assert b.verify(cid) == 3


def test_losing_a_whole_site_loses_nothing(sites) -> None:
    a, b, mirror = sites
    first = payload(2 * CHUNK_SIZE + 1, seed=1)
    second = payload(CHUNK_SIZE // 2, seed=2)
    cid1, cid2 = mirror.put(first), mirror.put(second)

    shutil.rmtree(a.root)  # the primary site's disk is gone
    assert b"".join(mirror.get(cid1)) == first  # read repairs what it touches
    assert b"".join(LocalBlockStore(a.root).get(cid1)) == first
    assert not a.has(cid2)
    assert a.pins() == frozenset()

    report = mirror.repair_all()
    assert report.roots == 2
    assert report.blocks_repaired == 1  # only cid2's single block was still missing
    assert report.pins_restored == 2
    assert a.pins() == b.pins() == frozenset({cid1, cid2})
    assert b"".join(a.get(cid2)) == second
    assert a.verify(cid1) == 4


def test_block_lost_or_corrupt_everywhere_is_an_error(sites) -> None:
    a, b, mirror = sites
    with pytest.raises(BlockNotFoundError, match="none of 2 sites"):
        mirror.get(compute_cid(b"nowhere"))
    cid = mirror.put(b"only copy")
    for site in (a, b):
        flip_a_bit(block_file(site, to_binary(cid)))
    with pytest.raises(IntegrityError, match="no site holds an intact copy"):
        mirror.get(cid)


def test_unpin_everywhere(sites) -> None:
    a, b, mirror = sites
    cid = mirror.put(b"consent form")
    b.unpin(cid)
    mirror.unpin(cid)  # pinned on one site is enough
    assert mirror.pins() == frozenset()
    with pytest.raises(NotPinnedError):
        mirror.unpin(cid)
    mirror.pin(cid)
    assert a.pins() == b.pins() == frozenset({cid})
