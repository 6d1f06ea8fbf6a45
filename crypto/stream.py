"""Segmented AES-256-GCM: the body of a record envelope, encrypted and decrypted as a stream.

Construction (in the spirit of Hoang, Reyhanitabar, Rogaway and Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015, eprint
2015/189, the "STREAM" construction; security reduces to AES-GCM being a nonce-based AEAD):

- the plaintext is cut into segments of ``segment_size`` bytes (64 KiB by default); every
  segment but the last is full, the last holds 0…``segment_size`` bytes (an empty body is one
  empty final segment, a body of exactly k full segments has no empty trailer);
- segment ``i`` is ``AES-256-GCM(K, nonce_i, segment_i, ad_i)`` framed as ``ciphertext ‖ tag``
  (16-byte tag), and the body is the plain concatenation of the frames: no length prefixes,
  because the framing follows from ``plaintext_length`` and ``segment_size`` in the header;
- ``nonce_i = body_id[0:8] ‖ uint32_be(i)``: the index in the nonce is what makes reordered or
  duplicated segments fail; ``K`` is a fresh random key per body, so nonces never repeat under
  one key even without the random prefix (the prefix is defence in depth);
- ``ad_i = "medledger/envelope/v1/segment" ‖ 0x00 ‖ body_id ‖ uint32_be(segment_size) ‖ final``
  with ``final`` = 1 for the last segment, 0 otherwise: dropping the tail of a body (cutting at a
  segment boundary) leaves a last segment whose tag was computed with ``final`` = 0, so it fails.

The body binds to ``body_id`` (32 random bytes kept in the header) and to ``K``, never to the
whole header: the header is re-wrapped when a patient changes the policy and the body must
stay byte-for-byte the same (it is a separate content-addressed block whose sha-256 is on chain).
A body swapped under another header fails because that header carries another ``K`` and
``body_id``.

Plaintext release: :func:`decrypt_segments` writes a segment only after its tag verified. A
truncated or otherwise damaged stream raises when the damage is reached, so a streaming caller
may already hold the verified segments before it; it must treat the output as void on an
exception (the bytes helpers in :mod:`crypto.envelope` return nothing at all on error).

Performance: one preallocated buffer per direction, ``readinto`` and ``encrypt_into`` /
``decrypt_into`` (no per-segment allocation of the payload), a precomputed associated data
pair, and writes batched to about 256 KiB. Memory is O(segment_size), independent of body size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import EnvelopeFormatError, EnvelopeIntegrityError

TAG_SIZE = 16
KEY_SIZE = 32
BODY_ID_SIZE = 32
NONCE_PREFIX_SIZE = 8
DEFAULT_SEGMENT_SIZE = 64 * 1024
MIN_SEGMENT_SIZE = 256
MAX_SEGMENT_SIZE = 16 * 1024 * 1024
MAX_SEGMENTS = 2**32  # the segment index is a 32-bit counter in the nonce
SEGMENT_AD_LABEL = b"medledger/envelope/v1/segment\x00"
_BATCH_BYTES = 256 * 1024


class Reader(Protocol):
    """A binary source: ``readinto`` is used when present, else ``read``."""

    def read(self, size: int = -1, /) -> bytes: ...


class Writer(Protocol):
    """A binary sink. ``write`` must consume the data before returning (files, ``BytesIO`` and
    sockets do): the buffer passed in is reused for the next batch."""

    def write(self, data: bytes | memoryview, /) -> object: ...


@dataclass(frozen=True, kw_only=True)
class BodyInfo:
    """What a body stream was: its plaintext length, its ciphertext length and sha-256.

    ``sha256`` is the digest of the body *ciphertext*, the value the chain stores; it is None
    when the caller asked :func:`encrypt_segments` not to hash (SHA-256 runs at about the speed
    of AES-GCM, so hashing halves throughput for a caller that hashes elsewhere anyway)."""

    plaintext_length: int
    body_length: int
    sha256: bytes | None


def check_segment_size(segment_size: int) -> int:
    """Refuse segment sizes that would make tiny frames or buffers of unbounded size."""
    if (
        isinstance(segment_size, bool)
        or not isinstance(segment_size, int)
        or not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE
    ):
        raise EnvelopeFormatError(
            f"segment size must be an integer in [{MIN_SEGMENT_SIZE}, {MAX_SEGMENT_SIZE}],"
            f" got {segment_size!r}"
        )
    return segment_size


def segment_count(plaintext_length: int, segment_size: int) -> int:
    """Number of frames of a body: at least one (the empty body is one empty final segment)."""
    if plaintext_length == 0:
        return 1
    return -(-plaintext_length // segment_size)


def body_length(plaintext_length: int, segment_size: int) -> int:
    """Exact ciphertext length of a body, known from the header alone."""
    return plaintext_length + TAG_SIZE * segment_count(plaintext_length, segment_size)


def segment_associated_data(body_id: bytes, segment_size: int, *, final: bool) -> bytes:
    return SEGMENT_AD_LABEL + body_id + segment_size.to_bytes(4, "big") + bytes([int(final)])


def encrypt_segments(
    reader: Reader,
    writer: Writer,
    *,
    key: bytes,
    body_id: bytes,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    hash_body: bool = True,
) -> BodyInfo:
    """Encrypt everything ``reader`` yields into ``writer``; memory stays O(segment_size).

    The final segment is only known once the reader is exhausted, so one segment is read
    ahead: a full segment followed by end-of-stream is the final one."""
    _check_key_material(key, body_id)
    check_segment_size(segment_size)
    aead = AESGCM(key)
    prefix = body_id[:NONCE_PREFIX_SIZE]
    ad_more = segment_associated_data(body_id, segment_size, final=False)
    ad_last = segment_associated_data(body_id, segment_size, final=True)
    frame = segment_size + TAG_SIZE
    per_batch = max(1, _BATCH_BYTES // frame)
    inbufs = (bytearray(segment_size), bytearray(segment_size))
    inviews = (memoryview(inbufs[0]), memoryview(inbufs[1]))
    batch = bytearray(per_batch * frame)
    batch_view = memoryview(batch)
    digest = hashlib.sha256() if hash_body else None
    cur = 0
    filled = _fill(reader, inviews[cur])
    index = 0
    slot = 0
    total_plain = 0
    total_body = 0
    while True:
        if filled == segment_size:
            next_filled = _fill(reader, inviews[1 - cur])
            final = next_filled == 0
        else:
            next_filled = 0
            final = True
        if index >= MAX_SEGMENTS:
            raise EnvelopeFormatError(
                f"body too long: more than {MAX_SEGMENTS} segments of {segment_size} bytes"
            )
        out_len = filled + TAG_SIZE
        aead.encrypt_into(
            prefix + index.to_bytes(4, "big"),
            inviews[cur][:filled],
            ad_last if final else ad_more,
            batch_view[slot : slot + out_len],
        )
        slot += out_len
        total_plain += filled
        if final or slot + frame > len(batch):
            chunk = batch_view[:slot]
            if digest is not None:
                digest.update(chunk)
            writer.write(chunk)
            total_body += slot
            slot = 0
        if final:
            break
        cur = 1 - cur
        filled = next_filled
        index += 1
    return BodyInfo(
        plaintext_length=total_plain,
        body_length=total_body,
        sha256=None if digest is None else digest.digest(),
    )


def decrypt_segments(
    reader: Reader,
    writer: Writer,
    *,
    key: bytes,
    body_id: bytes,
    segment_size: int,
    plaintext_length: int,
) -> int:
    """Decrypt a body whose plaintext length the (authenticated) header states.

    Writes only verified plaintext; raises :class:`EnvelopeIntegrityError` on a failed tag, a
    truncated body or trailing bytes. Returns the number of plaintext bytes written."""
    _check_key_material(key, body_id)
    check_segment_size(segment_size)
    count = _check_length(plaintext_length, segment_size)
    aead = AESGCM(key)
    prefix = body_id[:NONCE_PREFIX_SIZE]
    ad_more = segment_associated_data(body_id, segment_size, final=False)
    ad_last = segment_associated_data(body_id, segment_size, final=True)
    frame = segment_size + TAG_SIZE
    inbuf = bytearray(frame)
    inview = memoryview(inbuf)
    outbuf = bytearray(segment_size)
    outview = memoryview(outbuf)
    remaining = plaintext_length
    for index in range(count):
        final = index == count - 1
        plain_len = remaining if final else segment_size
        want = plain_len + TAG_SIZE
        got = _fill(reader, inview[:want])
        if got != want:
            raise EnvelopeIntegrityError(
                f"body truncated: segment {index} of {count} has {got} of {want} bytes"
            )
        try:
            aead.decrypt_into(
                prefix + index.to_bytes(4, "big"),
                inview[:want],
                ad_last if final else ad_more,
                outview[:plain_len],
            )
        except InvalidTag:
            raise EnvelopeIntegrityError(
                f"segment {index} of {count} failed authentication: the body was altered,"
                " reordered, cut short, or belongs to another header"
            ) from None
        writer.write(outview[:plain_len])
        remaining -= plain_len
    if _fill(reader, inview[:1]):
        raise EnvelopeIntegrityError(
            f"body has trailing bytes after its final segment ({count} segments expected)"
        )
    return plaintext_length


def check_body(reader: Reader, *, segment_size: int, plaintext_length: int) -> BodyInfo:
    """Structural check of a body without its key: exact length, and its sha-256.

    The API holds no keys; this lets it refuse a body that cannot belong to the header (wrong
    framing or length) before storing it, and gives the digest to compare with the chain."""
    check_segment_size(segment_size)
    _check_length(plaintext_length, segment_size)
    expected = body_length(plaintext_length, segment_size)
    digest = hashlib.sha256()
    buf = bytearray(_BATCH_BYTES)
    view = memoryview(buf)
    seen = 0
    while True:
        got = _fill(reader, view)
        if not got:
            break
        seen += got
        if seen > expected:
            raise EnvelopeFormatError(
                f"body is longer than its header allows: more than {expected} bytes"
            )
        digest.update(view[:got])
    if seen != expected:
        raise EnvelopeFormatError(
            f"body length {seen} does not match the header: expected {expected} bytes"
            f" ({segment_count(plaintext_length, segment_size)} segments of at most"
            f" {segment_size} bytes plus {TAG_SIZE}-byte tags)"
        )
    return BodyInfo(plaintext_length=plaintext_length, body_length=seen, sha256=digest.digest())


def _check_length(plaintext_length: int, segment_size: int) -> int:
    if isinstance(plaintext_length, bool) or not isinstance(plaintext_length, int):
        raise EnvelopeFormatError(f"plaintext length must be an integer, got {plaintext_length!r}")
    if plaintext_length < 0:
        raise EnvelopeFormatError(f"plaintext length must be >= 0, got {plaintext_length}")
    count = segment_count(plaintext_length, segment_size)
    if count > MAX_SEGMENTS:
        raise EnvelopeFormatError(f"plaintext length {plaintext_length} needs too many segments")
    return count


def _check_key_material(key: bytes, body_id: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise EnvelopeFormatError(f"data key must be {KEY_SIZE} bytes, got {len(key)}")
    if len(body_id) != BODY_ID_SIZE:
        raise EnvelopeFormatError(f"body id must be {BODY_ID_SIZE} bytes, got {len(body_id)}")


def _fill(reader: Reader, view: memoryview) -> int:
    """Read until ``view`` is full or the reader is exhausted; return the bytes read.

    Readers may return short reads (pipes, sockets, HTTP streams); only 0 means the end."""
    readinto = getattr(reader, "readinto", None)
    size = len(view)
    got = 0
    while got < size:
        if readinto is not None:
            n = readinto(view[got:])
        else:
            data = reader.read(size - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got
