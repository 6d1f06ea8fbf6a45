"""The key-wrapping half of the envelope: the KEK, the wrapped data key, the seal in a header.

What :mod:`crypto.envelope.hybrid` builds on (see its docstring for the construction): the
KEK from FAME's GT element, ``W`` = the data key wrapped under the header's associated data,
opening a v2 header's seal, and the hashing reader/writer that give the seal its content hash
while the body streams.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import fame
from crypto.envelope.header import LEGACY_VERSION, SALT_SIZE, Header
from crypto.envelope.seal import RecordBinding, Seal, open_seal
from crypto.errors import (
    CryptoError,
    EnvelopeAccessDeniedError,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeIntegrityError,
    EnvelopeSealError,
    FameFormatError,
    PolicyNotSatisfied,
)
from crypto.fame_types import Ciphertext, UserKey
from crypto.groups import gt_to_bytes
from crypto.stream import Reader, Writer

KEK_INFO = b"medledger/envelope/v1/kek\x00"
_ZERO_NONCE = bytes(12)


class HashingReader:
    def __init__(self, reader: Reader, digest: Any) -> None:
        self._reader = reader
        self._digest = digest

    def readinto(self, buffer: Any) -> int:
        inner = getattr(self._reader, "readinto", None)
        if inner is None:
            data = self._reader.read(len(buffer))
            n = len(data)
            memoryview(buffer)[:n] = data
        else:
            n = inner(buffer) or 0
        if n:
            self._digest.update(memoryview(buffer)[:n])
        return n

    def read(self, size: int = -1) -> bytes:
        chunk = self._reader.read(size)
        self._digest.update(chunk)
        return chunk


class HashingWriter:
    def __init__(self, writer: Writer, digest: Any) -> None:
        self._writer = writer
        self._digest = digest

    def write(self, data: Any) -> Any:
        self._digest.update(data)
        return self._writer.write(data)


def binding_of(header: Header) -> RecordBinding:
    assert header.record_id is not None
    assert header.patient is not None
    return RecordBinding(record_id=header.record_id, patient=header.patient_address or "")


def header_seal(header: Header, data_key: bytes) -> Seal | None:
    if header.version < 2:
        return None
    if header.seal is None:
        raise EnvelopeSealError("a v2 envelope without its author's seal")
    return open_seal(data_key, binding_of(header), header.seal)


def _kek(element_bytes: bytes, salt: bytes, scheme: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=salt,
        info=KEK_INFO + scheme.encode("ascii"),
    ).derive(element_bytes)


def wrap(
    data_key: bytes,
    *,
    abe: Ciphertext,
    element: Any,
    body_id: bytes,
    segment_size: int,
    length: int,
    content_type: str,
    binding: RecordBinding | None = None,
    seal: bytes | None = None,
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
        version=1 if binding is None else LEGACY_VERSION,
        record_id=None if binding is None else binding.record_id,
        patient=None if binding is None else binding.patient_bytes,
        seal=None if binding is None else seal,
    )
    kek = _kek(gt_to_bytes(element), unsigned.salt, unsigned.scheme)
    wrapped = AESGCM(kek).encrypt(_ZERO_NONCE, data_key, unsigned.associated_data())
    return replace(unsigned, wrapped_key=wrapped)


def unwrap(header: Header, user_key: UserKey) -> bytes:
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
