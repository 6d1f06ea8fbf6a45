"""The dag-pb codec and the UnixFS ``Data`` message, encoded by hand.

Only the handful of protobuf features these two messages use are needed (varints and
length-delimited fields), so a protobuf dependency would buy nothing but a build step. The
byte layout must match go-merkledag / go-codec-dagpb exactly, because a CID is a hash of it:

- ``PBNode``: ``Links`` (field 2, repeated) are serialised *before* ``Data`` (field 1) — the
  dag-pb spec fixes this canonical order although the field numbers say otherwise.
- ``PBLink``: ``Hash`` (1, bytes), ``Name`` (2, string; Kubo writes it even when empty),
  ``Tsize`` (3, varint: serialised size of the whole sub-DAG below the link).
- UnixFS ``Data``: ``Type`` (1), ``Data`` (2, absent in a parent of raw leaves),
  ``filesize`` (3), ``blocksizes`` (4, repeated and *not* packed).

Specs: https://ipld.io/specs/codecs/dag-pb/spec/ and https://github.com/ipfs/specs (UNIXFS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.errors import MalformedBlockError

# UnixFS Data.DataType values (unixfs.proto).
UNIXFS_RAW = 0
UNIXFS_DIRECTORY = 1
UNIXFS_FILE = 2

_WIRE_VARINT = 0
_WIRE_BYTES = 2


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, the protobuf varint."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Read a varint at ``pos``; return ``(value, next_pos)``. Rejects truncation and > 64 bits."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise MalformedBlockError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise MalformedBlockError("varint longer than 64 bits")


def _key(field: int, wire: int) -> bytes:
    return encode_varint((field << 3) | wire)


def _bytes_field(field: int, value: bytes) -> bytes:
    return _key(field, _WIRE_BYTES) + encode_varint(len(value)) + value


def _read_fields(buf: bytes | memoryview) -> list[tuple[int, int, int | bytes]]:
    """Split a message into ``(field, wire_type, value)`` triples, in wire order."""
    fields: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == _WIRE_VARINT:
            value, pos = decode_varint(buf, pos)
            fields.append((field, wire, value))
        elif wire == _WIRE_BYTES:
            length, pos = decode_varint(buf, pos)
            if pos + length > len(buf):
                raise MalformedBlockError("length-delimited field runs past the end of the block")
            fields.append((field, wire, bytes(buf[pos : pos + length])))
            pos += length
        else:
            raise MalformedBlockError(f"unsupported protobuf wire type {wire} (field {field})")
    return fields


@dataclass(frozen=True, slots=True)
class PBLink:
    """A dag-pb link: binary CID of the child, its name, and its cumulative size."""

    hash: bytes
    name: str | None = ""
    tsize: int | None = None

    def encode(self) -> bytes:
        out = _bytes_field(1, self.hash)
        if self.name is not None:
            out += _bytes_field(2, self.name.encode())
        if self.tsize is not None:
            out += _key(3, _WIRE_VARINT) + encode_varint(self.tsize)
        return out


@dataclass(frozen=True, slots=True)
class PBNode:
    """A dag-pb node: links to children, then an opaque ``data`` payload (UnixFS here)."""

    links: tuple[PBLink, ...]
    data: bytes | None

    def encode(self) -> bytes:
        parts = [_bytes_field(2, link.encode()) for link in self.links]
        if self.data is not None:
            parts.append(_bytes_field(1, self.data))
        return b"".join(parts)


def decode_node(block: bytes | memoryview) -> PBNode:
    """Decode a dag-pb block strictly (canonical order: every link before the data)."""
    links: list[PBLink] = []
    data: bytes | None = None
    for field, wire, value in _read_fields(block):
        if field == 2 and wire == _WIRE_BYTES:
            if data is not None:
                raise MalformedBlockError("dag-pb link after the Data field (non-canonical)")
            assert isinstance(value, bytes)
            links.append(_decode_link(value))
        elif field == 1 and wire == _WIRE_BYTES:
            if data is not None:
                raise MalformedBlockError("dag-pb node has two Data fields")
            assert isinstance(value, bytes)
            data = value
        else:
            raise MalformedBlockError(f"unexpected field {field} (wire type {wire}) in dag-pb node")
    return PBNode(links=tuple(links), data=data)


def _decode_link(buf: bytes) -> PBLink:
    hash_: bytes | None = None
    name: str | None = None
    tsize: int | None = None
    last = 0
    for field, wire, value in _read_fields(buf):
        if field <= last:
            raise MalformedBlockError("dag-pb link fields out of order or repeated")
        last = field
        if field == 1 and wire == _WIRE_BYTES:
            assert isinstance(value, bytes)
            hash_ = value
        elif field == 2 and wire == _WIRE_BYTES:
            assert isinstance(value, bytes)
            try:
                name = value.decode()
            except UnicodeDecodeError as exc:
                raise MalformedBlockError("dag-pb link name is not UTF-8") from exc
        elif field == 3 and wire == _WIRE_VARINT:
            assert isinstance(value, int)
            tsize = value
        else:
            raise MalformedBlockError(f"unexpected field {field} (wire type {wire}) in dag-pb link")
    if hash_ is None:
        raise MalformedBlockError("dag-pb link without a Hash")
    return PBLink(hash=hash_, name=name, tsize=tsize)


@dataclass(frozen=True, slots=True)
class UnixFSData:
    """The UnixFS ``Data`` message carried in a dag-pb node's data field (files only here)."""

    type: int
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = ()

    def encode(self) -> bytes:
        out = _key(1, _WIRE_VARINT) + encode_varint(self.type)
        if self.data is not None:
            out += _bytes_field(2, self.data)
        if self.filesize is not None:
            out += _key(3, _WIRE_VARINT) + encode_varint(self.filesize)
        for size in self.blocksizes:
            out += _key(4, _WIRE_VARINT) + encode_varint(size)
        return out


def decode_unixfs(buf: bytes) -> UnixFSData:
    """Decode the UnixFS message; fields this store never writes (mode, mtime…) are ignored."""
    type_: int | None = None
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = []
    for field, wire, value in _read_fields(buf):
        if field == 1 and wire == _WIRE_VARINT:
            assert isinstance(value, int)
            type_ = value
        elif field == 2 and wire == _WIRE_BYTES:
            assert isinstance(value, bytes)
            data = value
        elif field == 3 and wire == _WIRE_VARINT:
            assert isinstance(value, int)
            filesize = value
        elif field == 4 and wire == _WIRE_VARINT:
            assert isinstance(value, int)
            blocksizes.append(value)
        elif field == 4 and wire == _WIRE_BYTES:  # tolerate a packed encoding on read
            assert isinstance(value, bytes)
            pos = 0
            while pos < len(value):
                size, pos = decode_varint(value, pos)
                blocksizes.append(size)
    if type_ is None:
        raise MalformedBlockError("UnixFS data without a Type")
    return UnixFSData(type=type_, data=data, filesize=filesize, blocksizes=tuple(blocksizes))
