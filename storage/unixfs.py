"""UnixFS files: import a byte stream into the DAG Kubo builds, and read one back.

The importer reproduces ``ipfs add --cid-version=1 --raw-leaves`` with the default chunker
(``size-262144``) and the *balanced* layout of go-unixfs / boxo (``importer/balanced``,
at most 174 links per node):

- the stream is cut into fixed 256 KiB chunks; each chunk is a ``raw`` block (a leaf);
- a single chunk (a file of at most 256 KiB, including the empty file) *is* the root;
- otherwise leaves fill depth-1 dag-pb nodes of 174 links, those fill depth-2 nodes, and so
  on; a node at depth *d* is filled left to right with up to 174**d leaves, and the depth of
  the root is the smallest *d* with 174**d >= number of leaves.

Go builds that tree top-down with a recursive ``fillNodeRec``; here it is built bottom-up
with one open node per level, committing a node as soon as it is full. A full node can never
change again, so both orders emit the same blocks, and this one needs no look-ahead: memory
stays at one chunk plus at most 174 links per level, whatever the file size.

A parent of raw leaves carries UnixFS ``Data{Type: File, filesize, blocksizes[]}`` and no
``Data.Data``; each link has an empty name and ``Tsize`` = bytes of the whole child sub-DAG.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from multiformats import CID

from storage.cid import (
    DAG_PB_PREFIX,
    RAW,
    RAW_PREFIX,
    check_binary_cid,
    codec_of,
    to_cid,
)
from storage.dagpb import (
    UNIXFS_FILE,
    UNIXFS_RAW,
    PBLink,
    PBNode,
    UnixFSData,
    decode_node,
    decode_unixfs,
)
from storage.errors import MalformedBlockError

CHUNK_SIZE = 262_144
MAX_LINKS = 174

ByteSource = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]
# Receives (binary CID, block bytes) for every block, leaves first, root last. The bytes may
# be a view on a buffer the importer reuses: consume them before returning.
BlockSink = Callable[[bytes, bytes | memoryview], None]
# Returns the bytes of a block, already checked against its CID.
BlockLoader = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What importing a stream produced."""

    binary: bytes
    size: int  # bytes of file content
    dag_size: int  # bytes of all blocks (the root's Tsize, what Kubo calls CumulativeSize)
    blocks: int  # blocks emitted, duplicates included

    @property
    def cid(self) -> CID:
        return to_cid(self.binary)


class FileImporter:
    """Push-style balanced-layout importer; feed :meth:`write`, then call :meth:`finish`."""

    def __init__(
        self,
        *,
        sink: BlockSink | None = None,
        chunk_size: int = CHUNK_SIZE,
        max_links: int = MAX_LINKS,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if max_links < 2:
            raise ValueError(f"max_links must be at least 2, got {max_links}")
        self._sink = sink
        self.chunk_size = chunk_size
        self.max_links = max_links
        # _levels[k] holds the links (cid, tsize, filesize) of the open node at depth k + 1.
        self._levels: list[list[tuple[bytes, int, int]]] = [[]]
        self._pending = bytearray()
        self._leaves = 0
        self._blocks = 0
        self._size = 0
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes of any length; full chunks are hashed and emitted immediately."""
        view = memoryview(data)
        if self._pending:
            take = min(len(view), self.chunk_size - len(self._pending))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == self.chunk_size:
                self.add_chunk(self._pending)
                self._pending = bytearray()
        while len(view) >= self.chunk_size:
            self.add_chunk(view[: self.chunk_size])
            view = view[self.chunk_size :]
        if len(view):
            self._pending += view

    def add_chunk(self, chunk: bytes | bytearray | memoryview) -> None:
        """Emit one leaf. Every chunk but the last must be exactly ``chunk_size`` bytes."""
        if self._done:
            raise RuntimeError("importer already finished")
        digest = hashlib.sha256(chunk).digest()
        cid = RAW_PREFIX + digest
        if self._sink is not None:
            self._sink(cid, chunk)
        size = len(chunk)
        self._leaves += 1
        self._blocks += 1
        self._size += size
        self._push(0, (cid, size, size))

    def _push(self, level: int, link: tuple[bytes, int, int]) -> None:
        if level == len(self._levels):
            self._levels.append([])
        links = self._levels[level]
        links.append(link)
        if len(links) == self.max_links:
            self._levels[level] = []
            self._push(level + 1, self._commit(links))

    def _commit(self, links: list[tuple[bytes, int, int]]) -> tuple[bytes, int, int]:
        filesize = sum(link[2] for link in links)
        unixfs = UnixFSData(
            type=UNIXFS_FILE, filesize=filesize, blocksizes=tuple(link[2] for link in links)
        )
        block = PBNode(
            links=tuple(PBLink(hash=cid, name="", tsize=tsize) for cid, tsize, _ in links),
            data=unixfs.encode(),
        ).encode()
        cid = DAG_PB_PREFIX + hashlib.sha256(block).digest()
        if self._sink is not None:
            self._sink(cid, block)
        self._blocks += 1
        return cid, len(block) + sum(link[1] for link in links), filesize

    def finish(self) -> ImportResult:
        """Flush the last partial chunk, close every open node and return the root."""
        if self._pending or self._leaves == 0:
            self.add_chunk(bytes(self._pending))
            self._pending = bytearray()
        self._done = True
        if self._leaves == 1:
            cid, tsize, size = self._levels[0][0]
            return ImportResult(binary=cid, size=size, dag_size=tsize, blocks=self._blocks)
        depth, capacity = 1, self.max_links
        while capacity < self._leaves:
            depth += 1
            capacity *= self.max_links
        while len(self._levels) <= depth:
            self._levels.append([])
        for level in range(depth - 1):
            if self._levels[level]:
                links, self._levels[level] = self._levels[level], []
                self._push(level + 1, self._commit(links))
        if self._levels[depth - 1]:
            root = self._commit(self._levels[depth - 1])
        else:  # the file filled the tree exactly: the root was committed when it filled up
            root = self._levels[depth][0]
        cid, tsize, size = root
        return ImportResult(binary=cid, size=size, dag_size=tsize, blocks=self._blocks)


def import_file(
    source: ByteSource,
    *,
    sink: BlockSink | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_links: int = MAX_LINKS,
) -> ImportResult:
    """Import ``source`` (bytes, a binary file object, or an iterable of byte strings)."""
    importer = FileImporter(sink=sink, chunk_size=chunk_size, max_links=max_links)
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), chunk_size):
            importer.add_chunk(view[start : start + chunk_size])
    elif hasattr(source, "readinto"):
        buffer = bytearray(chunk_size)
        view = memoryview(buffer)
        while True:
            filled = _read_full(source, view)  # type: ignore[arg-type]
            if filled:
                importer.add_chunk(view[:filled])
            if filled < chunk_size:
                break
    elif hasattr(source, "read"):
        while chunk := source.read(chunk_size):  # type: ignore[union-attr]
            importer.write(chunk)
    else:
        for piece in source:
            if not isinstance(piece, bytes | bytearray | memoryview):
                raise TypeError(f"byte stream yielded {type(piece).__name__}, expected bytes")
            importer.write(piece)
    return importer.finish()


def _read_full(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` like Go's ``io.ReadFull``: short reads only at end of stream."""
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:])  # type: ignore[attr-defined]
        if not got:
            break
        filled += got
    return filled


# --- reading ---------------------------------------------------------------------------


def _file_node(cid: bytes, block: bytes) -> tuple[bytes | None, tuple[bytes, ...], tuple[int, ...]]:
    """Decode a dag-pb UnixFS file node into (inline data, child CIDs, child file sizes)."""
    node = decode_node(block)
    if node.data is None:
        raise MalformedBlockError(f"dag-pb node {to_cid(cid)} has no UnixFS data")
    unixfs = decode_unixfs(node.data)
    if unixfs.type not in (UNIXFS_FILE, UNIXFS_RAW):
        raise MalformedBlockError(
            f"dag-pb node {to_cid(cid)} is UnixFS type {unixfs.type}, not a file"
        )
    try:
        children = tuple(check_binary_cid(link.hash) for link in node.links)
    except Exception as exc:
        raise MalformedBlockError(f"dag-pb node {to_cid(cid)} links to {exc}") from exc
    if len(unixfs.blocksizes) != len(children):
        raise MalformedBlockError(
            f"dag-pb node {to_cid(cid)} has {len(children)} links but "
            f"{len(unixfs.blocksizes)} blocksizes"
        )
    return unixfs.data, children, unixfs.blocksizes


def open_file(root: bytes, load: BlockLoader) -> Iterator[bytes]:
    """Stream a file's bytes; the root block is loaded now (so a missing root fails here).

    ``load`` verifies each block against its CID, so nothing unverified is ever yielded.
    """
    block = load(root)

    def _gen() -> Iterator[bytes]:
        yield from _iter_node(root, block, load)

    return _gen()


def _iter_node(cid: bytes, block: bytes, load: BlockLoader) -> Iterator[bytes]:
    if codec_of(cid) == RAW:
        if block:
            yield block
        return
    data, children, _ = _file_node(cid, block)
    if data:
        yield data
    for child in children:
        yield from _iter_node(child, load(child), load)


def walk_dag(root: bytes, load: BlockLoader) -> Iterator[bytes]:
    """Yield every CID of the DAG under ``root`` (root first); only dag-pb nodes are loaded."""
    yield root
    if codec_of(root) == RAW:
        return
    _, children, _ = _file_node(root, load(root))
    for child in children:
        yield from walk_dag(child, load)


def iter_raw_leaves(
    root: bytes, root_block: bytes, load: BlockLoader
) -> Iterator[tuple[bytes, int]]:
    """Yield ``(leaf CID, leaf size)`` in file order for a DAG whose data sits in raw leaves.

    Lets a reader check a byte stream (Kubo's ``cat``) leaf by leaf: it knows where each
    leaf ends and what it must hash to. Parents are loaded lazily, so memory stays bounded.
    """
    if codec_of(root) == RAW:
        yield root, len(root_block)
        return
    data, children, sizes = _file_node(root, root_block)
    if data:
        raise MalformedBlockError(
            f"dag-pb node {to_cid(root)} carries file data itself (not a raw-leaf DAG)"
        )
    for child, size in zip(children, sizes, strict=True):
        if codec_of(child) == RAW:
            yield child, size
        else:
            yield from iter_raw_leaves(child, load(child), load)


def compute_cid(source: ByteSource) -> CID:
    """The CID ``ipfs add --cid-version=1 --raw-leaves`` prints for ``source`` (streamed)."""
    return import_file(source).cid
