"""Envelope v2: bound to its record and patient, sealed by its author inside the encryption.

The attacks are the ones issue 14 and 15 name: a record's content changed by a re-key made by
someone other than its author; a header-only rewrap that wraps a random key; one record's
consistent (header, body) served as another record or another patient's.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from typing import Any

import cbor2
import pytest
from eth_account import Account

from crypto import envelope, fame
from crypto.envelope import AccountSealer, RecordBinding, Seal, keywrap
from crypto.envelope.seal import open_seal, seal_blob
from crypto.errors import (
    EnvelopeBindingError,
    EnvelopeFormatError,
    EnvelopeIntegrityError,
    EnvelopeSealError,
)
from crypto.fame_types import MasterPublicKey, UserKey
from crypto.stream import encrypt_segments

AUTHOR = Account.create()
OTHER = Account.create()
PATIENT = Account.create().address
POLICY = f"(role:doctor and org:cd3h) or uid:{PATIENT.lower()}"
NARROWER = f"uid:{PATIENT.lower()}"
Keys = tuple[MasterPublicKey, UserKey, UserKey]


@pytest.fixture(scope="module")
def keys() -> Keys:
    mpk, msk = fame.setup()
    doctor = fame.keygen(msk, ["role:doctor", "org:cd3h"])
    patient = fame.keygen(msk, [f"uid:{PATIENT.lower()}"])
    return mpk, doctor, patient


def _binding(record_id: bytes | None = None, patient: str = PATIENT) -> RecordBinding:
    return RecordBinding(record_id=record_id or os.urandom(32), patient=patient)


def _encrypt(
    mpk: MasterPublicKey, plain: bytes, binding: RecordBinding, **kw: Any
) -> tuple[envelope.EncryptedRecord, bytes]:
    return envelope.encrypt_bytes(
        plain, mpk=mpk, policy=POLICY, segment_size=256, binding=binding, **kw
    )


def test_a_sealed_record_round_trips_and_names_its_author(keys: Keys) -> None:
    mpk, doctor, _ = keys
    binding = _binding()
    plain = os.urandom(700)
    record, body = _encrypt(mpk, plain, binding, sealer=AccountSealer(AUTHOR))
    assert record.header.version == 2
    assert record.header.record_id == binding.record_id
    assert record.header.patient_address == PATIENT
    assert record.seal is not None
    assert record.seal.author == AUTHOR.address
    sink = io.BytesIO()
    info = envelope.decrypt_stream(
        io.BytesIO(body), sink, header=record.header_bytes, user_key=doctor, binding=binding
    )
    assert sink.getvalue() == plain
    assert info.author == AUTHOR.address
    assert info.length == len(plain)


def test_another_records_envelope_is_refused_before_anything_is_decrypted(keys: Keys) -> None:
    mpk, doctor, _ = keys
    served = _binding()
    record, body = _encrypt(mpk, b"record Y", served, sealer=AccountSealer(AUTHOR))
    asked = _binding()  # record X: the API (or a store) serves Y's consistent pair instead
    sink = io.BytesIO()
    with pytest.raises(EnvelopeBindingError, match="another record was served"):
        envelope.decrypt_stream(
            io.BytesIO(body), sink, header=record.header_bytes, user_key=doctor, binding=asked
        )
    assert sink.getvalue() == b""
    other_patient = RecordBinding(record_id=served.record_id, patient=Account.create().address)
    with pytest.raises(EnvelopeBindingError, match="belongs to patient"):
        envelope.decrypt_bytes(record.header_bytes, body, user_key=doctor, binding=other_patient)


def test_a_v1_envelope_cannot_prove_its_record(keys: Keys) -> None:
    mpk, doctor, _ = keys
    record, body = envelope.encrypt_bytes(b"old", mpk=mpk, policy=POLICY)
    assert record.header.version == 1
    assert envelope.decrypt_bytes(record.header_bytes, body, user_key=doctor) == b"old"
    with pytest.raises(EnvelopeBindingError, match="v1 envelope"):
        envelope.decrypt_bytes(record.header_bytes, body, user_key=doctor, binding=_binding())


def test_rewrap_keeps_binding_and_seal(keys: Keys) -> None:
    mpk, _, patient = keys
    binding = _binding()
    record, body = _encrypt(mpk, b"discharge summary", binding, sealer=AccountSealer(AUTHOR))
    wider = envelope.rewrap(record.header_bytes, user_key=patient, new_policy=NARROWER, mpk=mpk)
    assert wider.record_id == binding.record_id
    assert wider.seal == record.header.seal
    assert envelope.decrypt_bytes(wider.to_bytes(), body, user_key=patient, binding=binding) == (
        b"discharge summary"
    )
    info = envelope.decrypt_stream(
        io.BytesIO(body), io.BytesIO(), header=wider, user_key=patient, binding=binding
    )
    assert info.author == AUTHOR.address


def test_a_full_rekey_carries_the_authors_seal_but_not_to_new_content(keys: Keys) -> None:
    mpk, doctor, patient = keys
    binding = _binding()
    record, _ = _encrypt(mpk, b"the author's words", binding, sealer=AccountSealer(AUTHOR))
    seal = envelope.open_header_seal(record.header_bytes, user_key=patient)
    assert seal == record.seal
    again, new_body = _encrypt(mpk, b"the author's words", binding, seal=seal)
    assert again.header.body_id != record.header.body_id  # a new data key and body
    out = envelope.decrypt_stream(
        io.BytesIO(new_body), io.BytesIO(), header=again.header, user_key=doctor, binding=binding
    )
    assert out.author == AUTHOR.address
    with pytest.raises(EnvelopeSealError, match="does not match its author's seal"):
        _encrypt(mpk, b"a colleague's rewrite", binding, seal=seal)


def test_a_rekey_that_rewrote_the_content_is_refused_by_the_reader(keys: Keys) -> None:
    """The attacker is a key holder who skips our client's check: new content, new data key,
    the original author's seal copied in. The reader computes the content hash and refuses."""
    mpk, doctor, patient = keys
    binding = _binding()
    record, _ = _encrypt(mpk, b"allergy: penicillin", binding, sealer=AccountSealer(AUTHOR))
    original = envelope.open_header_seal(record.header_bytes, user_key=patient)
    assert original is not None
    forged_key, body_id = os.urandom(32), os.urandom(32)
    body = io.BytesIO()
    plain = b"allergy: none"
    encrypt_segments(io.BytesIO(plain), body, key=forged_key, body_id=body_id, segment_size=256)
    abe, element = fame.encrypt(mpk, POLICY)
    header = keywrap.wrap(
        forged_key,
        abe=abe,
        element=element,
        body_id=body_id,
        segment_size=256,
        length=len(plain),
        content_type="application/octet-stream",
        binding=binding,
        seal=seal_blob(forged_key, binding, original),
    )
    sink = io.BytesIO()
    with pytest.raises(EnvelopeSealError, match="changed after the author wrote it"):
        envelope.decrypt_stream(
            io.BytesIO(body.getvalue()), sink, header=header, user_key=doctor, binding=binding
        )


def test_a_rewrap_to_a_random_key_is_detected(keys: Keys) -> None:
    """Header-only re-key wrapping a random key with the old seal blob copied: the seal does
    not open under that key, so the reader gets a clear error, not garbage."""
    mpk, doctor, _ = keys
    binding = _binding()
    record, body = _encrypt(mpk, b"x" * 300, binding, sealer=AccountSealer(AUTHOR))
    abe, element = fame.encrypt(mpk, POLICY)
    h = record.header
    header = keywrap.wrap(
        os.urandom(32),
        abe=abe,
        element=element,
        body_id=h.body_id,
        segment_size=h.segment_size,
        length=h.length,
        content_type=h.content_type,
        binding=binding,
        seal=h.seal,
    )
    with pytest.raises(EnvelopeSealError, match="does not open"):
        envelope.decrypt_bytes(header.to_bytes(), body, user_key=doctor, binding=binding)


def test_the_seal_is_authenticated_with_the_header(keys: Keys) -> None:
    mpk, doctor, _ = keys
    binding = _binding()
    record, body = _encrypt(mpk, b"abc", binding, sealer=AccountSealer(AUTHOR))
    doc = cbor2.loads(record.header_bytes)
    seal = bytearray(doc["seal"])
    seal[0] ^= 1
    doc["seal"] = bytes(seal)
    with pytest.raises(EnvelopeIntegrityError):
        envelope.decrypt_bytes(cbor2.dumps(doc, canonical=True), body, user_key=doctor)
    doc = cbor2.loads(record.header_bytes)
    doc["record_id"] = os.urandom(32)  # rebinding the header to another record id
    with pytest.raises(EnvelopeIntegrityError):
        envelope.decrypt_bytes(cbor2.dumps(doc, canonical=True), body, user_key=doctor)


def test_a_sealer_signing_as_someone_else_is_refused(keys: Keys) -> None:
    mpk, _, _ = keys

    class Liar:
        address = AUTHOR.address

        def sign_content(self, typed_data: dict[str, Any]) -> bytes:
            return AccountSealer(OTHER).sign_content(typed_data)

    with pytest.raises(EnvelopeSealError, match=f"signed by {OTHER.address}"):
        _encrypt(mpk, b"abc", _binding(), sealer=Liar())


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("record_id", b"\x01" * 31, "record_id must be 32 bytes"),
        ("patient", b"\x01" * 21, "patient must be 20 bytes"),
        ("seal", b"\x00" * 300, "seal must be"),
        ("seal", "text", "seal must be"),
    ],
)
def test_malformed_v2_fields_are_refused(keys: Keys, field: str, value: object, match: str) -> None:
    mpk, _, _ = keys
    record, _ = _encrypt(mpk, b"abc", _binding(), sealer=AccountSealer(AUTHOR))
    doc = cbor2.loads(record.header_bytes)
    doc[field] = value
    with pytest.raises(EnvelopeFormatError, match=match):
        envelope.parse_header(cbor2.dumps(doc, canonical=True))


def test_a_v2_header_needs_its_v2_fields(keys: Keys) -> None:
    mpk, _, _ = keys
    record, _ = _encrypt(mpk, b"abc", _binding(), sealer=AccountSealer(AUTHOR))
    doc = cbor2.loads(record.header_bytes)
    del doc["seal"]
    with pytest.raises(EnvelopeFormatError, match="missing \\['seal'\\]"):
        envelope.parse_header(cbor2.dumps(doc, canonical=True))


def test_encrypt_refuses_half_a_binding(keys: Keys) -> None:
    mpk, _, _ = keys
    with pytest.raises(EnvelopeFormatError, match="exactly one of"):
        _encrypt(mpk, b"abc", _binding())
    with pytest.raises(EnvelopeFormatError, match="needs the record"):
        envelope.encrypt_bytes(b"abc", mpk=mpk, policy=POLICY, sealer=AccountSealer(AUTHOR))


def test_a_seal_round_trips_through_its_blob() -> None:
    binding = _binding()
    seal = Seal(author=AUTHOR.address, signature=b"\x01" * 65)
    key = os.urandom(32)
    assert open_seal(key, binding, seal_blob(key, binding, seal)) == seal
    with pytest.raises(EnvelopeSealError):
        open_seal(os.urandom(32), binding, seal_blob(key, binding, seal))
    with pytest.raises(EnvelopeSealError):
        open_seal(key, replace(binding, record_id=os.urandom(32)), seal_blob(key, binding, seal))
