"""CIDs as MedLedger uses them: CIDv1, sha2-256, codec ``raw`` (leaves) or ``dag-pb`` (parents).

Two representations on purpose. The public API speaks :class:`multiformats.CID` (parsing,
base32 text, equality). The hot paths — one leaf every 256 KiB, keyed files on disk, DAG
walks — use the *binary* CID (``0x01 codec 0x12 0x20 digest``), because building a
``multiformats.CID`` costs ~0.3 ms, more than hashing the 256 KiB it names; the binary form
is derived from the very digest the chunk was hashed to, so each chunk is hashed once.

The importer that turns a byte stream into the CID ``ipfs add --cid-version=1 --raw-leaves``
prints, :func:`storage.unixfs.compute_cid`, lives above this module (it builds on it).
"""

from __future__ import annotations

import base64
import hashlib

from multiformats import CID

from storage.errors import IntegrityError, InvalidCidError

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
DIGEST_SIZE = 32

RAW_PREFIX = bytes([0x01, RAW, SHA2_256, DIGEST_SIZE])
DAG_PB_PREFIX = bytes([0x01, DAG_PB, SHA2_256, DIGEST_SIZE])
BINARY_CID_SIZE = len(RAW_PREFIX) + DIGEST_SIZE
_BASE32_CID_LEN = 1 + (BINARY_CID_SIZE * 8 + 4) // 5  # "b" + 58 characters

CidLike = CID | str | bytes


def raw_cid_bytes(digest: bytes) -> bytes:
    """Binary CIDv1 of a raw block whose sha-256 is ``digest``."""
    return RAW_PREFIX + digest


def dagpb_cid_bytes(digest: bytes) -> bytes:
    """Binary CIDv1 of a dag-pb block whose sha-256 is ``digest``."""
    return DAG_PB_PREFIX + digest


def check_binary_cid(value: bytes) -> bytes:
    """Return ``value`` if it is a binary CID this package handles; else raise InvalidCidError."""
    if len(value) != BINARY_CID_SIZE or value[:4] not in (RAW_PREFIX, DAG_PB_PREFIX):
        raise InvalidCidError(
            f"unsupported binary CID {value.hex()!r}: "
            "expected CIDv1 with sha2-256 and the raw or dag-pb codec"
        )
    return value


def to_binary(cid: CidLike) -> bytes:
    """Normalise a CID given as text, :class:`CID` or binary into the binary form."""
    if isinstance(cid, bytes | bytearray):
        return check_binary_cid(bytes(cid))
    if isinstance(cid, str):
        if len(cid) == _BASE32_CID_LEN and cid.startswith("b"):  # fast path: no CID object
            try:
                decoded = base64.b32decode(cid[1:].upper() + "=" * (-(len(cid) - 1) % 8))
            except ValueError:
                decoded = b""
            if decoded[:4] in (RAW_PREFIX, DAG_PB_PREFIX) and len(decoded) == BINARY_CID_SIZE:
                return decoded
        cid = parse_cid(cid)
    if not isinstance(cid, CID):
        raise InvalidCidError(f"not a CID: {cid!r}")
    return check_binary_cid(bytes(cid))


def parse_cid(text: str) -> CID:
    """Parse a CID string, refusing anything but CIDv1 / sha2-256 / raw or dag-pb."""
    try:
        cid = CID.decode(text.strip())
    except Exception as exc:  # multiformats raises several unrelated types
        raise InvalidCidError(f"cannot parse CID {text!r}: {exc}") from exc
    if cid.version != 1:
        raise InvalidCidError(f"CID {text!r} is CIDv{cid.version}; only CIDv1 is used here")
    check_binary_cid(bytes(cid))
    return cid


def to_cid(cid: CidLike) -> CID:
    """The public :class:`CID` (base32 text form) for any accepted representation."""
    binary = to_binary(cid)
    codec = "raw" if codec_of(binary) == RAW else "dag-pb"
    return CID("base32", 1, codec, binary[2:])


def cid_text(cid: bytes) -> str:
    """Base32 text of a binary CID without building a :class:`CID` (``b`` + RFC 4648 lower)."""
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


def codec_of(cid: bytes) -> int:
    """``RAW`` or ``DAG_PB``."""
    return cid[1]


def digest_of(cid: bytes) -> bytes:
    """The 32-byte sha-256 digest inside a binary CID."""
    return cid[4:]


def multihash_key(cid: bytes) -> str:
    """Kubo flatfs-style key: base32 (upper, unpadded) of the multihash, e.g. ``CIQ…``.

    Keying by multihash rather than CID means a raw and a dag-pb block with the same bytes
    share one file, which is harmless: same bytes, same hash.
    """
    return base64.b32encode(cid[2:]).decode().rstrip("=")


def block_cid(data: bytes | memoryview, codec: int) -> bytes:
    """Binary CID of ``data`` stored with ``codec``."""
    digest = hashlib.sha256(data).digest()
    return (RAW_PREFIX if codec == RAW else DAG_PB_PREFIX) + digest


def verify_block(cid: bytes, data: bytes | memoryview, *, where: str = "") -> None:
    """Raise :class:`IntegrityError` unless ``data`` hashes to the digest in ``cid``."""
    actual = hashlib.sha256(data).digest()
    if actual != digest_of(cid):
        place = f" ({where})" if where else ""
        raise IntegrityError(
            f"block {cid_text(cid)}{place} is corrupt: its {len(data)} bytes hash to "
            f"sha2-256 {actual.hex()}, expected {digest_of(cid).hex()}"
        )
