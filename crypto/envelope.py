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

import io
import os
from dataclasses import dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import fame
from crypto.envelope_header import (
    DEFAULT_CONTENT_TYPE,
    FORMAT_VERSION,
    SALT_SIZE,
    Header,
    check_content_type,
    parse_header,
)
from crypto.errors import (
    CryptoError,
    EnvelopeAccessDeniedError,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeIntegrityError,
    FameFormatError,
    PolicyNotSatisfied,
)
from crypto.fame_types import Ciphertext, MasterPublicKey, UserKey
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

KEK_INFO = b"medledger/envelope/v1/kek\x00"
_ZERO_NONCE = bytes(12)


@dataclass(frozen=True, kw_only=True)
class EncryptedRecord:
    """What the uploader sends and registers: two blobs and the body digest for the chain."""

    header: Header
    header_bytes: bytes
    body_sha256: bytes | None
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
    hash_body: bool = True,
) -> EncryptedRecord:
    """Encrypt ``reader`` into ``writer`` (the body) and return the header and body digest.

    Memory is O(segment_size). The policy is checked (:class:`crypto.errors.PolicyError`)
    before anything is read; ``writer`` must consume each chunk before returning (see
    :class:`crypto.stream.Writer`). ``hash_body=False`` skips the SHA-256 of the body
    ciphertext (``body_sha256`` is then None) for callers whose sink already hashes it, such
    as an uploader whose server computes the digest it registers: on one core SHA-256 is
    slower than AES-GCM, so hashing twice would halve the throughput for nothing."""
    canonical_policy = normalize(policy)
    check_content_type(content_type)
    check_segment_size(segment_size)
    abe, element = fame.encrypt(mpk, canonical_policy)
    data_key = os.urandom(KEY_SIZE)
    body_id = os.urandom(BODY_ID_SIZE)
    info = encrypt_segments(
        reader,
        writer,
        key=data_key,
        body_id=body_id,
        segment_size=segment_size,
        hash_body=hash_body,
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
    wrapped = AESGCM(kek).encrypt(_ZERO_NONCE, data_key, unsigned.associated_data())
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
        return AESGCM(kek).decrypt(_ZERO_NONCE, header.wrapped_key, header.associated_data())
    except InvalidTag:
        raise EnvelopeIntegrityError(
            "header failed authentication: it was altered (or the key is not genuine)"
        ) from None
