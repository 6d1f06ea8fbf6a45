"""The record envelope end to end with real FAME keys: round trips, tampering, rewrap."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from dataclasses import dataclass

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import envelope, fame
from crypto.errors import (
    EnvelopeAccessDeniedError,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeIntegrityError,
    PolicyError,
)
from crypto.fame_types import SCHEME_ID, MasterPublicKey, UserKey
from crypto.policy import normalize
from crypto.stream import TAG_SIZE
from tests.crypto.streams import HashingSink, PatternReader

SEG = 256
FRAME = SEG + TAG_SIZE
PATIENT = "uid:0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc"
POLICY = f"(role:doctor and org:cd3h) or {PATIENT}"
WIDER = f"(role:doctor and (org:cd3h or org:pujiang)) or {PATIENT}"


@dataclass(frozen=True)
class Authority:
    mpk: MasterPublicKey
    cd3h_doctor: UserKey
    pujiang_doctor: UserKey
    patient: UserKey
    nurse: UserKey


@pytest.fixture(scope="module")
def sealed(ka: Authority) -> tuple[envelope.EncryptedRecord, bytes]:
    """One record shared by the read-only tampering tests."""
    return _seal(ka, os.urandom(2 * SEG + 9))


@pytest.fixture(scope="module")
def ka() -> Authority:
    mpk, msk = fame.setup()
    return Authority(
        mpk=mpk,
        cd3h_doctor=fame.keygen(msk, ["role:doctor", "org:cd3h", "dept:cardiology"]),
        pujiang_doctor=fame.keygen(msk, ["role:doctor", "org:pujiang"]),
        patient=fame.keygen(msk, [PATIENT]),
        nurse=fame.keygen(msk, ["role:nurse", "org:cd3h"]),
    )


class RecordingWriter:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes | memoryview) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def _seal(ka: Authority, plain: bytes, seg: int = SEG) -> tuple[envelope.EncryptedRecord, bytes]:
    return envelope.encrypt_bytes(
        plain, mpk=ka.mpk, policy=POLICY, content_type="application/fhir+json", segment_size=seg
    )


def _stream_open(header: bytes, body: bytes, key: UserKey) -> tuple[RecordingWriter, Exception]:
    """Streaming decrypt that must fail; returns what reached the writer and the error."""
    sink = RecordingWriter()
    with pytest.raises(EnvelopeError) as info:
        envelope.decrypt_stream(io.BytesIO(body), sink, header=header, user_key=key)
    return sink, info.value


def _recode(header: bytes, **changes: object) -> bytes:
    doc = cbor2.loads(header)
    doc.update(changes)
    return cbor2.dumps(doc, canonical=True)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 5 * SEG + 77])
def test_bytes_round_trip(ka: Authority, length: int) -> None:
    plain = os.urandom(length)
    record, body = _seal(ka, plain)
    assert record.body_sha256 == hashlib.sha256(body).digest()
    assert record.body_length == len(body) == record.header.body_length
    assert envelope.decrypt_bytes(record.header_bytes, body, user_key=ka.cd3h_doctor) == plain
    assert envelope.decrypt_bytes(record.header, body, user_key=ka.patient) == plain


def test_unhashed_encryption_yields_the_same_envelope_without_a_digest(ka: Authority) -> None:
    plain = os.urandom(2 * SEG + 5)
    body_out = io.BytesIO()
    record = envelope.encrypt_stream(
        io.BytesIO(plain), body_out, mpk=ka.mpk, policy=POLICY, segment_size=SEG, hash_body=False
    )
    assert record.body_sha256 is None
    body = body_out.getvalue()
    assert record.body_length == len(body)
    info = envelope.validate_body_stream(io.BytesIO(body), record.header)
    assert info.sha256 == hashlib.sha256(body).digest()
    assert envelope.decrypt_bytes(record.header_bytes, body, user_key=ka.cd3h_doctor) == plain


def test_streaming_round_trip_default_segments(ka: Authority) -> None:
    plain = os.urandom(4 * envelope.DEFAULT_SEGMENT_SIZE + 1)
    body_out = io.BytesIO()
    record = envelope.encrypt_stream(io.BytesIO(plain), body_out, mpk=ka.mpk, policy=POLICY)
    body = body_out.getvalue()
    assert len(body) == len(plain) + 5 * TAG_SIZE
    assert record.header.content_type == envelope.DEFAULT_CONTENT_TYPE
    sink = io.BytesIO()
    n = envelope.decrypt_stream(
        io.BytesIO(body), sink, header=record.header_bytes, user_key=ka.cd3h_doctor
    )
    assert n.length == len(plain)
    assert n.author is None  # v1: no seal
    assert sink.getvalue() == plain


@settings(max_examples=15, deadline=None)
@given(plain=st.binary(max_size=5 * SEG), seg=st.sampled_from([SEG, 1000]))
def test_round_trip_property(ka: Authority, plain: bytes, seg: int) -> None:
    record, body = _seal(ka, plain, seg)
    assert envelope.decrypt_bytes(record.header_bytes, body, user_key=ka.patient) == plain


def test_header_format(ka: Authority) -> None:
    record, body = _seal(ka, b"{}")
    doc = cbor2.loads(record.header_bytes)
    assert set(doc) == {
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
    assert doc["v"] == 1
    assert doc["scheme"] == SCHEME_ID
    assert doc["policy"] == normalize(POLICY)
    assert doc["length"] == 2
    assert doc["segment_size"] == SEG
    assert doc["content_type"] == "application/fhir+json"
    parsed = envelope.parse_header(record.header_bytes)
    assert parsed == record.header
    assert parsed.to_bytes() == record.header_bytes
    assert b"{}" not in body


def test_access_denied_for_unsatisfying_key(ka: Authority) -> None:
    record, body = _seal(ka, b"secret")
    with pytest.raises(EnvelopeAccessDeniedError, match="do not satisfy"):
        envelope.decrypt_bytes(record.header_bytes, body, user_key=ka.nurse)
    with pytest.raises(EnvelopeAccessDeniedError):
        envelope.decrypt_bytes(record.header_bytes, body, user_key=ka.pujiang_doctor)


def test_malformed_policy_fails_before_reading(ka: Authority) -> None:
    reader = io.BytesIO(b"data")
    with pytest.raises(PolicyError):
        envelope.encrypt_stream(reader, io.BytesIO(), mpk=ka.mpk, policy="role:doctor and (")
    assert reader.tell() == 0


@pytest.mark.parametrize("bad", ["", "text/plain\n", "x" * 256, "ünïcode/type"])
def test_bad_content_type_is_refused(ka: Authority, bad: str) -> None:
    with pytest.raises(EnvelopeFormatError, match="content type"):
        envelope.encrypt_bytes(b"x", mpk=ka.mpk, policy=POLICY, content_type=bad)


# --- header tampering --------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_flipped_bit_anywhere_in_header_fails(
    ka: Authority, sealed: tuple[envelope.EncryptedRecord, bytes], data: st.DataObject
) -> None:
    record, body = sealed
    header = bytearray(record.header_bytes)
    position = data.draw(st.integers(min_value=0, max_value=len(header) - 1))
    header[position] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    sink, _ = _stream_open(bytes(header), body, ka.cd3h_doctor)
    assert sink.data == b""


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_truncated_header_is_refused(
    sealed: tuple[envelope.EncryptedRecord, bytes], data: st.DataObject
) -> None:
    record, _ = sealed
    cut = data.draw(st.integers(min_value=0, max_value=len(record.header_bytes) - 1))
    with pytest.raises(EnvelopeFormatError):
        envelope.parse_header(record.header_bytes[:cut])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("length", 2 * SEG + 8),  # consistent framing is still refused: W authenticates it
        ("segment_size", 512),
        ("content_type", "text/plain"),
        ("body_id", b"\x07" * 32),
        ("salt", b"\x00" * 32),
    ],
)
def test_changed_header_field_fails_authentication(
    ka: Authority, sealed: tuple[envelope.EncryptedRecord, bytes], field: str, value: object
) -> None:
    record, body = sealed
    sink, error = _stream_open(_recode(record.header_bytes, **{field: value}), body, ka.patient)
    assert isinstance(error, EnvelopeIntegrityError)
    assert "header failed authentication" in str(error)
    assert sink.data == b""


def test_policy_swap_in_header_is_refused(
    ka: Authority, sealed: tuple[envelope.EncryptedRecord, bytes]
) -> None:
    record, body = sealed
    doc = cbor2.loads(record.header_bytes)
    widened = "role:doctor or " + PATIENT
    doc["policy"] = widened
    with pytest.raises(EnvelopeFormatError, match="differs from its ABE"):
        envelope.parse_header(cbor2.dumps(doc, canonical=True))
    # rewriting the ciphertext's policy too (same shape, another attribute) lets the
    # span program "solve" for the Pujiang doctor, but yields a wrong GT element: W fails
    other_abe = dict(doc["abe"])
    other_abe["policy"] = "(org:pujiang and role:doctor) or " + PATIENT
    doc["abe"] = other_abe
    doc["policy"] = other_abe["policy"]
    forged = cbor2.dumps(doc, canonical=True)
    sink, error = _stream_open(forged, body, ka.pujiang_doctor)
    assert isinstance(error, EnvelopeIntegrityError)
    assert sink.data == b""


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"v": 4}, "unsupported envelope format version 4"),
        ({"v": True}, "unsupported envelope format version True"),
        ({"scheme": "bsw07"}, "unsupported envelope scheme 'bsw07'"),
        ({"extra": 1}, "unexpected"),
        ({"wrapped_key": b"short"}, "wrapped_key must be 48 bytes"),
        ({"segment_size": 7}, "segment size"),
        ({"length": -1}, "length must be >= 0"),
        ({"length": 2**32 * SEG + 1}, "too many segments"),
        ({"content_type": "bad\x00type"}, "content type"),
        ({"abe": {"scheme": SCHEME_ID}}, "ABE ciphertext is invalid"),
    ],
)
def test_malformed_headers_are_refused(
    ka: Authority, sealed: tuple[envelope.EncryptedRecord, bytes], changes: dict, match: str
) -> None:
    record, body = sealed
    header = _recode(record.header_bytes, **changes)
    with pytest.raises(EnvelopeFormatError, match=match):
        envelope.parse_header(header)
    with pytest.raises(EnvelopeFormatError, match=match):
        envelope.decrypt_bytes(header, body, user_key=ka.patient)


def test_non_cbor_and_non_canonical_headers_are_refused(
    ka: Authority, sealed: tuple[envelope.EncryptedRecord, bytes]
) -> None:
    record, _ = sealed
    with pytest.raises(EnvelopeFormatError, match="not valid CBOR"):
        envelope.parse_header(b"\xbf\x01")
    with pytest.raises(EnvelopeFormatError, match="CBOR map"):
        envelope.parse_header(cbor2.dumps([1]))
    doc = cbor2.loads(record.header_bytes)
    reordered = cbor2.dumps(dict(reversed(list(doc.items()))))
    with pytest.raises(EnvelopeFormatError, match="canonical"):
        envelope.parse_header(reordered)


def test_abe_point_outside_the_subgroup_is_refused(
    ka: Authority, sealed: tuple[envelope.EncryptedRecord, bytes]
) -> None:
    record, _ = sealed
    doc = cbor2.loads(record.header_bytes)
    abe = dict(doc["abe"])
    abe["ct_0"] = [b"\x00" * 95 + b"\x01", *abe["ct_0"][1:]]
    with pytest.raises(EnvelopeFormatError, match="ABE ciphertext is invalid"):
        envelope.parse_header(_recode(record.header_bytes, abe=abe))


# --- body tampering ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "position", [0, SEG - 1, SEG + 5, FRAME + 3, 2 * FRAME + 1, 2 * FRAME + 9 + 15]
)
def test_flipped_bit_in_body_fails_and_releases_only_verified_segments(
    ka: Authority, position: int
) -> None:
    plain = os.urandom(2 * SEG + 9)
    record, body = _seal(ka, plain)
    tampered = bytearray(body)
    tampered[position] ^= 0x80
    sink, error = _stream_open(record.header_bytes, bytes(tampered), ka.cd3h_doctor)
    assert isinstance(error, EnvelopeIntegrityError)
    assert sink.data == plain[: (position // FRAME) * SEG]
    with pytest.raises(EnvelopeIntegrityError):
        envelope.decrypt_bytes(record.header_bytes, bytes(tampered), user_key=ka.cd3h_doctor)


@pytest.mark.parametrize(
    ("cut", "released_segments"),
    [(2 * FRAME, 2), (FRAME, 1), (FRAME + 100, 1), (2 * FRAME + 20, 2), (0, 0)],
)
def test_truncated_body_fails(ka: Authority, cut: int, released_segments: int) -> None:
    plain = os.urandom(2 * SEG + 40)
    record, body = _seal(ka, plain)
    sink, error = _stream_open(record.header_bytes, body[:cut], ka.cd3h_doctor)
    assert isinstance(error, EnvelopeIntegrityError)
    assert "truncated" in str(error)
    assert sink.data == plain[: released_segments * SEG]


def test_reordered_segments_fail(ka: Authority) -> None:
    plain = os.urandom(3 * SEG + 1)
    record, body = _seal(ka, plain)
    reordered = body[FRAME : 2 * FRAME] + body[:FRAME] + body[2 * FRAME :]
    sink, error = _stream_open(record.header_bytes, reordered, ka.patient)
    assert isinstance(error, EnvelopeIntegrityError)
    assert sink.data == b""


def test_body_swapped_between_two_headers_fails(ka: Authority) -> None:
    plain_a, plain_b = os.urandom(2 * SEG), os.urandom(2 * SEG)
    record_a, body_a = _seal(ka, plain_a)
    record_b, body_b = _seal(ka, plain_b)
    assert len(body_a) == len(body_b)
    for header, body in ((record_a.header_bytes, body_b), (record_b.header_bytes, body_a)):
        # a keyless structural check cannot tell: same framing and length
        envelope.validate_body_stream(io.BytesIO(body), header)
        sink, error = _stream_open(header, body, ka.cd3h_doctor)
        assert isinstance(error, EnvelopeIntegrityError)
        assert "segment 0 of 2" in str(error)
        assert sink.data == b""


def test_trailing_data_fails(ka: Authority) -> None:
    record, body = _seal(ka, b"abc")
    with pytest.raises(EnvelopeIntegrityError, match="trailing"):
        envelope.decrypt_bytes(record.header_bytes, body + b"\x00", user_key=ka.patient)


def test_validate_body_stream_without_keys(ka: Authority) -> None:
    record, body = _seal(ka, os.urandom(3 * SEG + 3))
    info = envelope.validate_body_stream(io.BytesIO(body), record.header_bytes)
    assert info.sha256 == record.body_sha256
    assert info.body_length == len(body)
    with pytest.raises(EnvelopeFormatError, match="does not match the header"):
        envelope.validate_body_stream(io.BytesIO(body[:-FRAME]), record.header)
    with pytest.raises(EnvelopeFormatError, match="longer than its header"):
        envelope.validate_body_stream(io.BytesIO(body + body), record.header)


# --- rewrap ------------------------------------------------------------------------------


def test_rewrap_widens_access_and_keeps_the_body(ka: Authority) -> None:
    plain = os.urandom(2 * SEG + 3)
    record, body = _seal(ka, plain)
    body_before = bytes(body)
    with pytest.raises(EnvelopeAccessDeniedError):
        envelope.decrypt_bytes(record.header_bytes, body, user_key=ka.pujiang_doctor)
    wider = envelope.rewrap(record.header_bytes, user_key=ka.patient, new_policy=WIDER, mpk=ka.mpk)
    assert wider.body_id == record.header.body_id
    assert wider.length == record.header.length
    assert wider.salt != record.header.salt
    assert wider.wrapped_key != record.header.wrapped_key
    assert envelope.decrypt_bytes(wider.to_bytes(), body, user_key=ka.pujiang_doctor) == plain
    assert envelope.decrypt_bytes(wider, body, user_key=ka.cd3h_doctor) == plain
    assert body == body_before
    envelope.validate_body_stream(io.BytesIO(body), wider)


def test_rewrap_narrows_access(ka: Authority) -> None:
    plain = b'{"resourceType": "Observation"}'
    record, body = _seal(ka, plain)
    narrow = envelope.rewrap(
        record.header, user_key=ka.cd3h_doctor, new_policy=f"org:pujiang or {PATIENT}", mpk=ka.mpk
    )
    # the old-only key (cd3h doctor) no longer opens the new header
    with pytest.raises(EnvelopeAccessDeniedError):
        envelope.decrypt_bytes(narrow.to_bytes(), body, user_key=ka.cd3h_doctor)
    assert envelope.decrypt_bytes(narrow.to_bytes(), body, user_key=ka.pujiang_doctor) == plain
    assert envelope.decrypt_bytes(narrow.to_bytes(), body, user_key=ka.patient) == plain


def test_rewrap_needs_a_key_that_opens_the_header(ka: Authority) -> None:
    record, _ = _seal(ka, b"x")
    with pytest.raises(EnvelopeAccessDeniedError):
        envelope.rewrap(record.header, user_key=ka.nurse, new_policy="role:nurse", mpk=ka.mpk)
    with pytest.raises(PolicyError):
        envelope.rewrap(record.header, user_key=ka.patient, new_policy="or or", mpk=ka.mpk)


def test_rewrapped_header_under_another_body_fails(ka: Authority) -> None:
    record_a, _ = _seal(ka, os.urandom(SEG))
    _, body_b = _seal(ka, os.urandom(SEG))
    wider = envelope.rewrap(record_a.header, user_key=ka.patient, new_policy=WIDER, mpk=ka.mpk)
    with pytest.raises(EnvelopeIntegrityError, match="segment 0 of 1"):
        envelope.decrypt_bytes(wider, body_b, user_key=ka.pujiang_doctor)


# --- memory ------------------------------------------------------------------------------


def test_envelope_streaming_memory_is_constant(ka: Authority, tmp_path: object) -> None:
    total = 16 * 1024 * 1024
    reader = PatternReader(total)
    path = tmp_path / "body.bin"  # type: ignore[operator]
    tracemalloc.start()
    try:
        with open(path, "wb") as out:
            record = envelope.encrypt_stream(reader, out, mpk=ka.mpk, policy=POLICY)
        _, enc_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sink = HashingSink()
        with open(path, "rb") as body:
            envelope.decrypt_stream(body, sink, header=record.header, user_key=ka.patient)
        _, dec_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.size == total
    limit = 8 * envelope.DEFAULT_SEGMENT_SIZE
    assert enc_peak < limit, enc_peak
    assert dec_peak < limit, dec_peak
