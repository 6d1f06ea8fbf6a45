"""The record envelope: a CP-ABE-wrapped data key (header) and a segmented AEAD body.

Hybrid encryption as a KEM/DEM pair (Cramer and Shoup, "Design and Analysis of Practical
Public-Key Encryption Schemes Secure against Adaptive Chosen Ciphertext Attack", SIAM J.
Computing 2003, eprint 2001/108): the KEM is FAME (:mod:`crypto.fame`, Agrawal–Chase, eprint
2017/807), the DEM is AES-256-GCM; confidentiality rests on DLIN in the random-oracle model
(FAME) and on AES-GCM being a secure nonce-based AEAD. Notation:

- ``K`` — the 256-bit **data key**, drawn at random per record; it encrypts the body;
- ``M`` — the random GT element FAME encrypts under the policy (``(C, M) = FAME.Enc(mpk, P)``);
- ``KEK = HKDF-SHA256(ikm = gt_to_bytes(M), salt, info = "medledger/envelope/v1/kek" ‖ 0 ‖
  scheme)`` with a fresh 32-byte ``salt``;
- ``W = AES-256-GCM(KEK, nonce = 0^96, K, AD = "medledger/envelope/v1/header" ‖ 0 ‖
  SHA-256(CBOR(header without W)))`` — the wrapped data key. ``KEK`` is single-use (fresh
  ``M`` and ``salt`` per wrap), so the fixed nonce never repeats under one key.

Why ``K`` is random and wrapped rather than derived from ``M``: :func:`rewrap` must let a
patient widen or narrow access without touching the body (a separate content-addressed block
whose SHA-256 is on chain). Rewrap opens ``W`` with the old ``M``, draws a new ``M'`` under the
new policy and a new salt, and wraps the *same* ``K`` again.

**Header** = canonical CBOR map ``{v, scheme, policy, abe, salt, wrapped_key, body_id,
segment_size, length, content_type}``: format version 1, the FAME scheme id, the canonical
policy, the FAME ciphertext ``C``, the KDF salt, ``W``, the 32-byte random body id, the
segment size, the plaintext length and the content type. Every field except ``W`` is the
associated data of ``W``, so any change to the header (policy, length, body id, …) fails when
the key is unwrapped; a change to ``C`` yields another ``M`` and fails the same way. Unknown
versions and schemes are refused before anything is decrypted.

**Body**: :mod:`crypto.stream` (STREAM-style segmented AES-GCM under ``K``, nonce = body-id
prefix ‖ segment index, associated data = body id ‖ segment size ‖ final flag). The body binds
to ``K`` and ``body_id``, which rewrap keeps, not to the header hash, which rewrap changes; a
body swapped under another header fails because that header unwraps another ``K`` (and names
another ``body_id``). Truncation, reordering and bit flips fail per segment.

**Release of plaintext**: nothing is decrypted before the header authenticates. The
streaming decrypter writes a segment only once its tag verified; if a later segment is
damaged or missing, the caller has received the verified segments before it and then an
:class:`~crypto.errors.EnvelopeError` — it must discard the output. :func:`decrypt_bytes`
returns nothing on any error.

The API never holds keys: it checks uploads with :func:`parse_header` and
:func:`validate_body_stream` (framing, exact length, SHA-256) without decrypting.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, replace
from typing import Any

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import fame
from crypto.errors import (
    CryptoError,
    EnvelopeAccessDeniedError,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeIntegrityError,
    FameFormatError,
    PolicyNotSatisfied,
)
from crypto.fame_types import SCHEME_ID, Ciphertext, MasterPublicKey, UserKey
from crypto.groups import gt_to_bytes
from crypto.policy import normalize
from crypto.stream import (
    BODY_ID_SIZE,
    DEFAULT_SEGMENT_SIZE,
    KEY_SIZE,
    BodyInfo,
    Reader,
    Writer,
    check_body,
    check_segment_size,
    decrypt_segments,
    encrypt_segments,
)
from crypto.stream import body_length as stream_body_length

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_SEGMENT_SIZE",
    "FORMAT_VERSION",
    "EncryptedRecord",
    "Header",
    "decrypt_bytes",
    "decrypt_stream",
    "encrypt_bytes",
    "encrypt_stream",
    "parse_header",
    "rewrap",
    "validate_body_stream",
]

FORMAT_VERSION = 1
DEFAULT_CONTENT_TYPE = "application/octet-stream"
SALT_SIZE = 32
WRAPPED_KEY_SIZE = KEY_SIZE + 16
MAX_HEADER_SIZE = 1024 * 1024
KEK_INFO = b"medledger/envelope/v1/kek\x00"
HEADER_AD_LABEL = b"medledger/envelope/v1/header\x00"
_ZERO_NONCE = bytes(12)
_CONTENT_TYPE_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,254}")
_FIELDS = frozenset(
    {
        "v",
        "scheme",
        "policy",
        "abe",
        "salt",
        "wrapped_key",
        "body_id",
        "segment_size",
        "length",
        "content_type",
    }
)


@dataclass(frozen=True, kw_only=True)
class Header:
    """A parsed envelope header; :meth:`to_bytes` is its one canonical CBOR encoding."""

    policy: str
    abe: Ciphertext
    salt: bytes
    wrapped_key: bytes
    body_id: bytes
    segment_size: int
    length: int
    content_type: str
    version: int = FORMAT_VERSION
    scheme: str = SCHEME_ID

    def to_obj(self) -> dict[str, Any]:
        return {**self._authenticated_obj(), "wrapped_key": self.wrapped_key}

    def to_bytes(self) -> bytes:
        return cbor2.dumps(self.to_obj(), canonical=True)

    @property
    def body_length(self) -> int:
        """Exact length of the body ciphertext this header describes."""
        return stream_body_length(self.length, self.segment_size)

    def _authenticated_obj(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "scheme": self.scheme,
            "policy": self.policy,
            "abe": self.abe.to_obj(),
            "salt": self.salt,
            "body_id": self.body_id,
            "segment_size": self.segment_size,
            "length": self.length,
            "content_type": self.content_type,
        }

    def _associated_data(self) -> bytes:
        digest = hashlib.sha256(cbor2.dumps(self._authenticated_obj(), canonical=True))
        return HEADER_AD_LABEL + digest.digest()


@dataclass(frozen=True, kw_only=True)
class EncryptedRecord:
    """What the uploader sends and registers: two blobs and the body digest for the chain."""

    header: Header
    header_bytes: bytes
    body_sha256: bytes
    body_length: int


# --- encryption --------------------------------------------------------------------------


def encrypt_stream(
    reader: Reader,
    writer: Writer,
    *,
    mpk: MasterPublicKey,
    policy: str,
    content_type: str = DEFAULT_CONTENT_TYPE,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> EncryptedRecord:
    """Encrypt ``reader`` into ``writer`` (the body) and return the header and body digest.

    Memory is O(segment_size). The policy is checked (:class:`crypto.errors.PolicyError`)
    before anything is read; ``writer`` must consume each chunk before returning (see
    :class:`crypto.stream.Writer`)."""
    canonical_policy = normalize(policy)
    _check_content_type(content_type)
    check_segment_size(segment_size)
    abe, element = fame.encrypt(mpk, canonical_policy)
    data_key = os.urandom(KEY_SIZE)
    body_id = os.urandom(BODY_ID_SIZE)
    info = encrypt_segments(
        reader, writer, key=data_key, body_id=body_id, segment_size=segment_size
    )
    header = _wrap(
        data_key,
        abe=abe,
        element=element,
        body_id=body_id,
        segment_size=segment_size,
        length=info.plaintext_length,
        content_type=content_type,
    )
    assert info.sha256 is not None  # encrypt_segments hashes by default
    return EncryptedRecord(
        header=header,
        header_bytes=header.to_bytes(),
        body_sha256=info.sha256,
        body_length=info.body_length,
    )


def encrypt_bytes(
    plaintext: bytes,
    *,
    mpk: MasterPublicKey,
    policy: str,
    content_type: str = DEFAULT_CONTENT_TYPE,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> tuple[EncryptedRecord, bytes]:
    """:func:`encrypt_stream` for a record held in memory; returns ``(record, body)``."""
    out = io.BytesIO()
    record = encrypt_stream(
        io.BytesIO(plaintext),
        out,
        mpk=mpk,
        policy=policy,
        content_type=content_type,
        segment_size=segment_size,
    )
    return record, out.getvalue()


# --- decryption --------------------------------------------------------------------------


def decrypt_stream(
    reader: Reader, writer: Writer, *, header: Header | bytes, user_key: UserKey
) -> int:
    """Decrypt a body into ``writer``; returns the plaintext length.

    The header is authenticated (key unwrapped) before the body is read; each segment is
    written only after its tag verified. On :class:`~crypto.errors.EnvelopeError` the writer
    may hold verified segments preceding the damage and must be discarded."""
    parsed = header if isinstance(header, Header) else parse_header(header)
    data_key = _unwrap(parsed, user_key)
    return decrypt_segments(
        reader,
        writer,
        key=data_key,
        body_id=parsed.body_id,
        segment_size=parsed.segment_size,
        plaintext_length=parsed.length,
    )


def decrypt_bytes(header: Header | bytes, body: bytes, *, user_key: UserKey) -> bytes:
    """Decrypt a record held in memory; all of it or an exception, never a part."""
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(body), out, header=header, user_key=user_key)
    return out.getvalue()


# --- rewrap ------------------------------------------------------------------------------


def rewrap(
    header: Header | bytes, *, user_key: UserKey, new_policy: str, mpk: MasterPublicKey
) -> Header:
    """The same record under ``new_policy``: same data key, body id and body; new header.

    ``user_key`` must open the current header (the patient's own key always does: every
    policy ORs in ``uid:<patient>``). The body is not needed and does not change."""
    parsed = header if isinstance(header, Header) else parse_header(header)
    canonical_policy = normalize(new_policy)
    data_key = _unwrap(parsed, user_key)
    abe, element = fame.encrypt(mpk, canonical_policy)
    return _wrap(
        data_key,
        abe=abe,
        element=element,
        body_id=parsed.body_id,
        segment_size=parsed.segment_size,
        length=parsed.length,
        content_type=parsed.content_type,
    )


# --- checks without keys -----------------------------------------------------------------


def parse_header(data: bytes) -> Header:
    """Decode and structurally check a header (no key needed, nothing decrypted).

    Refuses non-canonical CBOR, unknown versions and schemes, wrong field sets, types and
    sizes, and FAME ciphertexts with points off the curve or outside the subgroup."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EnvelopeFormatError(f"header must be bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) > MAX_HEADER_SIZE:
        raise EnvelopeFormatError(f"header is {len(raw)} bytes, over the {MAX_HEADER_SIZE} limit")
    try:
        doc = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise EnvelopeFormatError(f"header is not valid CBOR: {exc}") from exc
    if not isinstance(doc, dict):
        raise EnvelopeFormatError(f"header must be a CBOR map, got {type(doc).__name__}")
    version = doc.get("v")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise EnvelopeFormatError(
            f"unsupported envelope format version {version!r} (this software reads"
            f" version {FORMAT_VERSION})"
        )
    if doc.get("scheme") != SCHEME_ID:
        raise EnvelopeFormatError(
            f"unsupported envelope scheme {doc.get('scheme')!r} (expected {SCHEME_ID!r})"
        )
    if set(doc) != _FIELDS:
        missing = sorted(_FIELDS - set(doc))
        extra = sorted(str(k) for k in set(doc) - _FIELDS)
        raise EnvelopeFormatError(f"header fields: missing {missing}, unexpected {extra}")
    _expect_bytes(doc, "salt", SALT_SIZE)
    _expect_bytes(doc, "wrapped_key", WRAPPED_KEY_SIZE)
    _expect_bytes(doc, "body_id", BODY_ID_SIZE)
    for name in ("segment_size", "length"):
        if isinstance(doc[name], bool) or not isinstance(doc[name], int):
            raise EnvelopeFormatError(f"header {name} must be an integer")
    check_segment_size(doc["segment_size"])
    if doc["length"] < 0:
        raise EnvelopeFormatError(f"header length must be >= 0, got {doc['length']}")
    if not isinstance(doc["content_type"], str):
        raise EnvelopeFormatError("header content_type must be a string")
    _check_content_type(doc["content_type"])
    if not isinstance(doc["policy"], str):
        raise EnvelopeFormatError("header policy must be a string")
    try:
        abe = Ciphertext.from_obj(doc["abe"])
    except FameFormatError as exc:
        raise EnvelopeFormatError(f"header ABE ciphertext is invalid: {exc}") from exc
    if abe.policy != doc["policy"]:
        raise EnvelopeFormatError("header policy differs from its ABE ciphertext's policy")
    header = Header(
        version=version,
        scheme=doc["scheme"],
        policy=doc["policy"],
        abe=abe,
        salt=doc["salt"],
        wrapped_key=doc["wrapped_key"],
        body_id=doc["body_id"],
        segment_size=doc["segment_size"],
        length=doc["length"],
        content_type=doc["content_type"],
    )
    if header.to_bytes() != raw:
        raise EnvelopeFormatError("header is not in canonical CBOR form")
    return header


def validate_body_stream(reader: Reader, header: Header | bytes) -> BodyInfo:
    """Check a body's framing against its header without the key; return its length and
    SHA-256 (compare with the digest registered on chain). Raises
    :class:`~crypto.errors.EnvelopeFormatError` when the body cannot belong to the header."""
    parsed = header if isinstance(header, Header) else parse_header(header)
    return check_body(reader, segment_size=parsed.segment_size, plaintext_length=parsed.length)


# --- internals ---------------------------------------------------------------------------


def _kek(element_bytes: bytes, salt: bytes, scheme: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=salt,
        info=KEK_INFO + scheme.encode("ascii"),
    ).derive(element_bytes)


def _wrap(
    data_key: bytes,
    *,
    abe: Ciphertext,
    element: Any,
    body_id: bytes,
    segment_size: int,
    length: int,
    content_type: str,
) -> Header:
    unsigned = Header(
        policy=abe.policy,
        abe=abe,
        salt=os.urandom(SALT_SIZE),
        wrapped_key=b"",
        body_id=body_id,
        segment_size=segment_size,
        length=length,
        content_type=content_type,
    )
    kek = _kek(gt_to_bytes(element), unsigned.salt, unsigned.scheme)
    wrapped = AESGCM(kek).encrypt(_ZERO_NONCE, data_key, unsigned._associated_data())
    return replace(unsigned, wrapped_key=wrapped)


def _unwrap(header: Header, user_key: UserKey) -> bytes:
    try:
        element = fame.decrypt(user_key, header.abe)
    except PolicyNotSatisfied as exc:
        raise EnvelopeAccessDeniedError(
            f"the key's attributes do not satisfy the record policy {header.policy!r}"
        ) from exc
    except FameFormatError as exc:
        raise EnvelopeFormatError(f"header ABE ciphertext is invalid: {exc}") from exc
    except CryptoError as exc:
        raise EnvelopeError(f"cannot decrypt the header: {exc}") from exc
    kek = _kek(gt_to_bytes(element), header.salt, header.scheme)
    try:
        return AESGCM(kek).decrypt(_ZERO_NONCE, header.wrapped_key, header._associated_data())
    except InvalidTag:
        raise EnvelopeIntegrityError(
            "header failed authentication: it was altered (or the key is not genuine)"
        ) from None


def _expect_bytes(doc: dict[str, Any], name: str, size: int) -> None:
    value = doc[name]
    if not isinstance(value, bytes) or len(value) != size:
        raise EnvelopeFormatError(f"header {name} must be {size} bytes")


def _check_content_type(content_type: str) -> None:
    if not isinstance(content_type, str) or not _CONTENT_TYPE_RE.fullmatch(content_type):
        raise EnvelopeFormatError(
            f"content type must be 1-255 printable ASCII characters, got {content_type!r}"
        )
