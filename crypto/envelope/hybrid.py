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

**Version 2** (the default when the caller names the record): the header's authenticated
fields also carry ``record_id``, ``patient`` and ``seal``, the author's signature of
``(record id, patient, SHA-256(plaintext))`` encrypted under ``K`` (:mod:`crypto.envelope.seal`).
A reader passes the :class:`~crypto.envelope.seal.RecordBinding` it asked for: a header of
another record or patient is refused before anything is decrypted, and the seal is checked
against the plaintext once the last segment verified (:class:`DecryptedRecord` names the author,
for the caller to compare with the author the chain registered). Rewrap copies the seal; a full
re-key (:func:`encrypt_stream` with ``seal=``) carries the original author's seal over to the
new key after checking that it signs the same content. Version 1 still decrypts; it has no seal.

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
from dataclasses import dataclass

from crypto import fame
from crypto.envelope.header import (
    DEFAULT_CONTENT_TYPE,
    FORMAT_VERSION,
    Header,
    check_content_type,
    parse_header,
)
from crypto.envelope.header_v3 import HeaderV3
from crypto.envelope.keywrap import (
    HashingReader,
    HashingWriter,
    binding_of,
    header_seal,
    unwrap,
    wrap,
)
from crypto.envelope.seal import (
    RecordBinding,
    Seal,
    Sealer,
    seal_blob,
    seal_content,
    verify_seal,
)
from crypto.errors import (
    EnvelopeBindingError,
    EnvelopeFormatError,
)
from crypto.fame_types import MasterPublicKey, UserKey
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
    "DecryptedRecord",
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


@dataclass(frozen=True, kw_only=True)
class EncryptedRecord:
    """What the uploader sends and registers: two blobs and the body digest for the chain."""

    header: Header
    header_bytes: bytes
    body_sha256: bytes | None
    body_length: int
    seal: Seal | None = None  # v2: the author's seal it carries


@dataclass(frozen=True, kw_only=True)
class DecryptedRecord:
    """What a decryption verified: the plaintext length and, for v2, the sealing author."""

    length: int
    author: str | None  # None for a v1 envelope, which carries no seal
    content_sha256: bytes


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
    binding: RecordBinding | None = None,
    sealer: Sealer | None = None,
    seal: Seal | None = None,
) -> EncryptedRecord:
    """Encrypt ``reader`` into ``writer`` (the body) and return the header and body digest.

    With ``binding`` the envelope is v2: bound to that record and patient and sealed by
    ``sealer`` (the author signs now) or by ``seal`` (a re-key carrying the original author's
    seal over, checked against the content here); without it, v1 (no seal).

    Memory is O(segment_size). The policy is checked (:class:`crypto.errors.PolicyError`)
    before anything is read; ``writer`` must consume each chunk before returning (see
    :class:`crypto.stream.Writer`). ``hash_body=False`` skips the SHA-256 of the body
    ciphertext (``body_sha256`` is then None) for callers whose sink already hashes it, such
    as an uploader whose server computes the digest it registers: on one core SHA-256 is
    slower than AES-GCM, so hashing twice would halve the throughput for nothing."""
    canonical_policy = normalize(policy)
    check_content_type(content_type)
    check_segment_size(segment_size)
    if binding is None and (sealer is not None or seal is not None):
        raise EnvelopeFormatError("a seal needs the record it belongs to (binding=)")
    if binding is not None and (sealer is None) == (seal is None):
        raise EnvelopeFormatError("a v2 envelope needs exactly one of sealer= or seal=")
    abe, element = fame.encrypt(mpk, canonical_policy)
    data_key = os.urandom(KEY_SIZE)
    body_id = os.urandom(BODY_ID_SIZE)
    content = hashlib.sha256()
    info = encrypt_segments(
        HashingReader(reader, content) if binding is not None else reader,
        writer,
        key=data_key,
        body_id=body_id,
        segment_size=segment_size,
        hash_body=hash_body,
    )
    sealed: Seal | None = None
    if binding is not None:
        sealed = seal_content(binding, content.digest(), sealer=sealer, seal=seal)
    header = wrap(
        data_key,
        abe=abe,
        element=element,
        body_id=body_id,
        segment_size=segment_size,
        length=info.plaintext_length,
        content_type=content_type,
        binding=binding,
        seal=None if sealed is None or binding is None else seal_blob(data_key, binding, sealed),
    )
    return EncryptedRecord(
        header=header,
        header_bytes=header.to_bytes(),
        body_sha256=info.sha256,
        body_length=info.body_length,
        seal=sealed,
    )


def encrypt_bytes(
    plaintext: bytes,
    *,
    mpk: MasterPublicKey,
    policy: str,
    content_type: str = DEFAULT_CONTENT_TYPE,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    binding: RecordBinding | None = None,
    sealer: Sealer | None = None,
    seal: Seal | None = None,
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
        binding=binding,
        sealer=sealer,
        seal=seal,
    )
    return record, out.getvalue()


# --- decryption --------------------------------------------------------------------------


def decrypt_stream(
    reader: Reader,
    writer: Writer,
    *,
    header: Header | bytes,
    user_key: UserKey,
    binding: RecordBinding | None = None,
) -> DecryptedRecord:
    """Decrypt a body into ``writer``; returns its length and (v2) its sealing author.

    With ``binding``, a v2 header naming another record or patient is refused before
    anything is decrypted (:class:`~crypto.errors.EnvelopeBindingError`), and so is a v1
    header, which cannot prove which record it is. The header is authenticated (key
    unwrapped) before the body is read; each segment is written only after its tag verified;
    a v2 seal is checked after the last segment. On :class:`~crypto.errors.EnvelopeError` the
    writer may hold verified segments and must be discarded."""
    parsed = header if isinstance(header, Header) else parse_header(header)
    check_binding(parsed, binding)
    data_key = unwrap(parsed, user_key)
    seal = header_seal(parsed, data_key)
    content = hashlib.sha256()
    length = decrypt_segments(
        reader,
        HashingWriter(writer, content),
        key=data_key,
        body_id=parsed.body_id,
        segment_size=parsed.segment_size,
        plaintext_length=parsed.length,
    )
    author = None
    if seal is not None:
        author = verify_seal(seal, binding_of(parsed), content.digest())
    return DecryptedRecord(length=length, author=author, content_sha256=content.digest())


def decrypt_bytes(
    header: Header | bytes,
    body: bytes,
    *,
    user_key: UserKey,
    binding: RecordBinding | None = None,
) -> bytes:
    """Decrypt a record held in memory; all of it or an exception, never a part."""
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(body), out, header=header, user_key=user_key, binding=binding)
    return out.getvalue()


def open_header_seal(header: Header | bytes, *, user_key: UserKey) -> Seal | None:
    """The author's seal of a v2 header (None for v1): what a full re-key carries over."""
    parsed = header if isinstance(header, Header) else parse_header(header)
    return header_seal(parsed, unwrap(parsed, user_key))


def check_binding(header: Header, binding: RecordBinding | None) -> None:
    """Refuse a header that does not belong to ``binding`` (no key needed)."""
    if binding is None:
        return
    if header.version < 2:
        raise EnvelopeBindingError(
            f"record {binding.record_id.hex()} was served with a v1 envelope, which does not "
            "name its record: it cannot be checked"
        )
    if header.record_id != binding.record_id:
        raise EnvelopeBindingError(
            f"the envelope belongs to record 0x{(header.record_id or b'').hex()}, not "
            f"0x{binding.record_id.hex()}: another record was served in its place"
        )
    if header.patient != binding.patient_bytes:
        raise EnvelopeBindingError(
            f"the envelope belongs to patient {header.patient_address}, not {binding.patient}"
        )


# --- rewrap ------------------------------------------------------------------------------


def rewrap(
    header: Header | bytes, *, user_key: UserKey, new_policy: str, mpk: MasterPublicKey
) -> Header:
    """The same record under ``new_policy``: same data key, body id, body and seal; new header.

    ``user_key`` must open the current header. The body is not needed and does not change.
    Only for re-keys where nobody loses access: the old header still opens the same body."""
    parsed = header if isinstance(header, Header) else parse_header(header)
    canonical_policy = normalize(new_policy)
    data_key = unwrap(parsed, user_key)
    header_seal(parsed, data_key)  # refuse to re-issue a header whose seal does not open
    abe, element = fame.encrypt(mpk, canonical_policy)
    return wrap(
        data_key,
        abe=abe,
        element=element,
        body_id=parsed.body_id,
        segment_size=parsed.segment_size,
        length=parsed.length,
        content_type=parsed.content_type,
        binding=binding_of(parsed) if parsed.version >= 2 else None,
        seal=parsed.seal,
    )


# --- checks without keys -----------------------------------------------------------------


def validate_body_stream(reader: Reader, header: Header | HeaderV3 | bytes) -> BodyInfo:
    """Check a body's framing against its header without the key; return its length and
    SHA-256 (compare with the digest registered on chain). Raises
    :class:`~crypto.errors.EnvelopeFormatError` when the body cannot belong to the header."""
    parsed = parse_header(header) if isinstance(header, bytes | bytearray | memoryview) else header
    return check_body(reader, segment_size=parsed.segment_size, plaintext_length=parsed.length)
