"""The segmented AES-GCM body stream: round trips, framing, tampering, release, memory."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import EnvelopeError, EnvelopeFormatError, EnvelopeIntegrityError
from crypto.stream import (
    DEFAULT_SEGMENT_SIZE,
    TAG_SIZE,
    body_length,
    check_body,
    decrypt_segments,
    encrypt_segments,
    segment_count,
)
from tests.crypto.streams import HashingSink, PatternReader

SEG = 256  # the smallest segment size allowed: many segments from little data


class RecordingWriter:
    """Keeps a copy of every chunk written (the stream reuses its buffers)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes | memoryview) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


class OnlyRead:
    """A reader without ``readinto`` that returns short reads, like a socket."""

    def __init__(self, data: bytes, step: int = 97) -> None:
        self._buf = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._buf.read(min(size, self._step))


def _keys() -> tuple[bytes, bytes]:
    return os.urandom(32), os.urandom(32)


def _encrypt(plain: bytes, key: bytes, body_id: bytes, seg: int = SEG) -> bytes:
    out = io.BytesIO()
    info = encrypt_segments(io.BytesIO(plain), out, key=key, body_id=body_id, segment_size=seg)
    body = out.getvalue()
    assert info.plaintext_length == len(plain)
    assert info.body_length == len(body) == body_length(len(plain), seg)
    assert info.sha256 == hashlib.sha256(body).digest()
    return body


def _decrypt(body: bytes, key: bytes, body_id: bytes, length: int, seg: int = SEG) -> bytes:
    sink = RecordingWriter()
    n = decrypt_segments(
        io.BytesIO(body),
        sink,
        key=key,
        body_id=body_id,
        segment_size=seg,
        plaintext_length=length,
    )
    assert n == length
    return sink.data


@pytest.mark.parametrize(
    "length", [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG - 1, 2 * SEG, 2 * SEG + 1, 7 * SEG + 13]
)
def test_round_trip_at_segment_boundaries(length: int) -> None:
    key, body_id = _keys()
    plain = os.urandom(length)
    body = _encrypt(plain, key, body_id)
    assert len(body) == length + TAG_SIZE * segment_count(length, SEG)
    if length >= 16:  # a 1-byte plaintext occurs in 17 random bytes 6 % of the time
        assert plain not in body
    assert _decrypt(body, key, body_id, length) == plain


def test_default_segment_size_round_trip_with_short_reads() -> None:
    key, body_id = _keys()
    plain = os.urandom(3 * DEFAULT_SEGMENT_SIZE + 5)
    out = io.BytesIO()
    info = encrypt_segments(OnlyRead(plain), out, key=key, body_id=body_id)
    assert info.body_length == len(plain) + 4 * TAG_SIZE
    sink = RecordingWriter()
    decrypt_segments(
        OnlyRead(out.getvalue(), step=1000),
        sink,
        key=key,
        body_id=body_id,
        segment_size=DEFAULT_SEGMENT_SIZE,
        plaintext_length=len(plain),
    )
    assert sink.data == plain


@settings(max_examples=40, deadline=None)
@given(plain=st.binary(max_size=6 * SEG), seg=st.sampled_from([SEG, SEG + 1, 3 * SEG]))
def test_round_trip_property(plain: bytes, seg: int) -> None:
    key, body_id = _keys()
    body = _encrypt(plain, key, body_id, seg)
    assert _decrypt(body, key, body_id, len(plain), seg) == plain


def _four_segment_body() -> tuple[bytes, bytes, bytes, bytes]:
    key, body_id = _keys()
    plain = os.urandom(3 * SEG + 100)
    return key, body_id, plain, _encrypt(plain, key, body_id)


FRAME = SEG + TAG_SIZE


@pytest.mark.parametrize(
    "position",
    [
        0,  # first byte of segment 0
        SEG - 1,  # last ciphertext byte of segment 0
        SEG + 3,  # inside segment 0's tag
        FRAME + 10,  # segment 1
        2 * FRAME + SEG + 15,  # last byte of segment 2's tag
        3 * FRAME + 50,  # final segment
        3 * FRAME + 100 + 8,  # final segment's tag
    ],
)
def test_flipped_bit_anywhere_fails_and_releases_only_verified_segments(position: int) -> None:
    key, body_id, plain, body = _four_segment_body()
    tampered = bytearray(body)
    tampered[position] ^= 0x10
    sink = RecordingWriter()
    with pytest.raises(EnvelopeIntegrityError, match=r"segment (\d) of 4 failed authentication"):
        decrypt_segments(
            io.BytesIO(bytes(tampered)),
            sink,
            key=key,
            body_id=body_id,
            segment_size=SEG,
            plaintext_length=len(plain),
        )
    damaged_segment = position // FRAME
    # exactly the segments before the damaged one were released, and they are genuine
    assert sink.data == plain[: damaged_segment * SEG]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_flipped_bit_fails_and_releases_a_verified_prefix(data: st.DataObject) -> None:
    key, body_id, plain, body = _four_segment_body()
    position = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    tampered = bytearray(body)
    tampered[position] ^= 1 << bit
    sink = RecordingWriter()
    with pytest.raises(EnvelopeIntegrityError):
        decrypt_segments(
            io.BytesIO(bytes(tampered)),
            sink,
            key=key,
            body_id=body_id,
            segment_size=SEG,
            plaintext_length=len(plain),
        )
    assert sink.data == plain[: (position // FRAME) * SEG]


@pytest.mark.parametrize(
    ("cut", "why"),
    [
        (3 * FRAME, "drop the final segment (cut at a boundary)"),
        (2 * FRAME, "cut at an earlier boundary"),
        (2 * FRAME + 40, "cut mid-segment"),
        (3 * FRAME + 116 - 1, "lose the last byte of the tag"),
        (0, "empty body"),
    ],
)
def test_truncated_body_fails(cut: int, why: str) -> None:
    key, body_id, plain, body = _four_segment_body()
    assert len(body) == 3 * FRAME + 116
    sink = RecordingWriter()
    with pytest.raises(EnvelopeIntegrityError, match="truncated"):
        decrypt_segments(
            io.BytesIO(body[:cut]),
            sink,
            key=key,
            body_id=body_id,
            segment_size=SEG,
            plaintext_length=len(plain),
        )
    assert plain.startswith(sink.data), why
    assert len(sink.data) <= (cut // FRAME) * SEG


def test_dropped_tail_with_a_lying_length_fails_on_the_final_flag() -> None:
    """Even if the stated length matched a shortened body, the new last segment was sealed
    with final = 0 and fails: the final flag, not only the header length, stops truncation."""
    key, body_id = _keys()
    plain = os.urandom(3 * SEG)
    body = _encrypt(plain, key, body_id)
    with pytest.raises(EnvelopeIntegrityError, match="segment 1 of 2 failed"):
        _decrypt(body[: 2 * FRAME], key, body_id, 2 * SEG)


def test_reordered_segments_fail() -> None:
    key, body_id, plain, body = _four_segment_body()
    frames = [body[i * FRAME : (i + 1) * FRAME] for i in range(3)]
    swapped = frames[1] + frames[0] + frames[2] + body[3 * FRAME :]
    sink = RecordingWriter()
    with pytest.raises(EnvelopeIntegrityError, match="segment 0 of 4"):
        decrypt_segments(
            io.BytesIO(swapped),
            sink,
            key=key,
            body_id=body_id,
            segment_size=SEG,
            plaintext_length=len(plain),
        )
    assert sink.data == b""


def test_duplicated_segment_fails() -> None:
    key, body_id, plain, body = _four_segment_body()
    dup = body[:FRAME] + body[:FRAME] + body[2 * FRAME :]
    with pytest.raises(EnvelopeIntegrityError, match="segment 1 of 4"):
        _decrypt(dup, key, body_id, len(plain))


def test_body_under_another_key_or_body_id_fails() -> None:
    key, body_id, plain, body = _four_segment_body()
    other_key, other_id = _keys()
    with pytest.raises(EnvelopeIntegrityError, match="segment 0 of 4"):
        _decrypt(body, other_key, body_id, len(plain))
    # same key, other body id: the associated data (and nonce prefix) differ
    with pytest.raises(EnvelopeIntegrityError, match="segment 0 of 4"):
        _decrypt(body, key, other_id, len(plain))


def test_trailing_bytes_fail() -> None:
    key, body_id, plain, body = _four_segment_body()
    with pytest.raises(EnvelopeIntegrityError, match="trailing bytes"):
        _decrypt(body + b"\x00", key, body_id, len(plain))


@pytest.mark.parametrize("bad", [0, 255, 16 * 1024 * 1024 + 1, True])
def test_segment_size_bounds(bad: int) -> None:
    key, body_id = _keys()
    with pytest.raises(EnvelopeFormatError, match="segment size"):
        encrypt_segments(io.BytesIO(b"x"), io.BytesIO(), key=key, body_id=body_id, segment_size=bad)


def test_bad_key_material_is_refused() -> None:
    with pytest.raises(EnvelopeFormatError, match="data key must be 32 bytes"):
        encrypt_segments(io.BytesIO(b""), io.BytesIO(), key=b"k" * 16, body_id=b"i" * 32)
    with pytest.raises(EnvelopeFormatError, match="body id must be 32 bytes"):
        encrypt_segments(io.BytesIO(b""), io.BytesIO(), key=b"k" * 32, body_id=b"i" * 8)


def test_check_body_without_key() -> None:
    _, _, plain, body = _four_segment_body()
    info = check_body(io.BytesIO(body), segment_size=SEG, plaintext_length=len(plain))
    assert info.sha256 == hashlib.sha256(body).digest()
    assert info.body_length == len(body)
    with pytest.raises(EnvelopeFormatError, match="does not match the header"):
        check_body(io.BytesIO(body[:-1]), segment_size=SEG, plaintext_length=len(plain))
    with pytest.raises(EnvelopeFormatError, match="longer than its header"):
        check_body(io.BytesIO(body + b"!"), segment_size=SEG, plaintext_length=len(plain))
    with pytest.raises(EnvelopeFormatError, match="plaintext length must be >= 0"):
        check_body(io.BytesIO(body), segment_size=SEG, plaintext_length=-1)


def test_every_error_is_an_envelope_error() -> None:
    assert issubclass(EnvelopeIntegrityError, EnvelopeError)
    assert issubclass(EnvelopeFormatError, EnvelopeError)


def test_streaming_memory_is_constant() -> None:
    """24 MiB through encrypt and decrypt with a peak of a few segments, not the body size."""
    total = 24 * 1024 * 1024
    key, body_id = _keys()
    reader = PatternReader(total)
    sink = HashingSink()
    with tempfile.TemporaryFile() as spool:
        tracemalloc.start()
        try:
            info = encrypt_segments(reader, spool, key=key, body_id=body_id)
            _, enc_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            spool.seek(0)
            decrypt_segments(
                spool,
                sink,
                key=key,
                body_id=body_id,
                segment_size=DEFAULT_SEGMENT_SIZE,
                plaintext_length=total,
            )
            _, dec_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.body_length == body_length(total, DEFAULT_SEGMENT_SIZE)
    assert sink.size == total
    limit = 8 * DEFAULT_SEGMENT_SIZE  # the 256 KiB write batch plus two input segments
    assert enc_peak < limit, enc_peak
    assert dec_peak < limit, dec_peak
