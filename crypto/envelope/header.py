"""The envelope header: its fields, its one canonical CBOR encoding, and a strict parser.

Three versions are read: v1 (session 1); v2, which adds ``record_id``, ``patient`` and the
author's encrypted ``seal`` (:mod:`crypto.envelope.seal`) to the authenticated fields; and v3
(:mod:`crypto.envelope.header_v3`: one FAME slot per institution the policy reaches, each under
that institution's own key authority, plus the patient's own slot — no single key escrow).
New envelopes are v3 (:data:`FORMAT_VERSION`); v1/v2 are kept only to read old records.

Kept apart from :mod:`crypto.envelope` because the API uses it alone: it checks uploaded
headers (:func:`parse_header`) without holding any key, and parsing must refuse every
malformed or unknown header before anything else looks at it. The construction (what the
fields mean and what authenticates them) is documented in :mod:`crypto.envelope`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2
from eth_utils import to_checksum_address

from crypto.envelope.content_type import check_content_type
from crypto.envelope.header_v3 import FORMAT_VERSION_V3, HeaderV3, parse_header_v3
from crypto.errors import EnvelopeFormatError, FameFormatError
from crypto.fame_types import SCHEME_ID, Ciphertext
from crypto.stream import (
    BODY_ID_SIZE,
    KEY_SIZE,
    MAX_SEGMENTS,
    check_segment_size,
    segment_count,
)
from crypto.stream import body_length as stream_body_length

__all__ = [
    "FORMAT_VERSION",
    "Header",
    "HeaderV3",
    "check_content_type",
    "header_policy",
    "parse_header",
]

FORMAT_VERSION = FORMAT_VERSION_V3
LEGACY_VERSION = 2
SUPPORTED_VERSIONS = (1, 2, 3)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
SALT_SIZE = 32
WRAPPED_KEY_SIZE = KEY_SIZE + 16
MAX_HEADER_SIZE = 1024 * 1024
HEADER_AD_LABEL = b"medledger/envelope/v1/header\x00"
HEADER_AD_LABEL_V2 = b"medledger/envelope/v2/header\x00"
RECORD_ID_SIZE = 32
PATIENT_SIZE = 20
MAX_SEAL_SIZE = 256
_FIELDS_V1 = frozenset(
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
_FIELDS = {1: _FIELDS_V1, 2: _FIELDS_V1 | {"record_id", "patient", "seal"}}


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
    version: int = LEGACY_VERSION
    scheme: str = SCHEME_ID
    record_id: bytes | None = None  # v2: the registry id this envelope belongs to
    patient: bytes | None = None  # v2: the patient's 20-byte address
    seal: bytes | None = None  # v2: the author's seal, encrypted under the data key

    def to_obj(self) -> dict[str, Any]:
        return {**self._authenticated_obj(), "wrapped_key": self.wrapped_key}

    def to_bytes(self) -> bytes:
        return cbor2.dumps(self.to_obj(), canonical=True)

    @property
    def body_length(self) -> int:
        """Exact length of the body ciphertext this header describes."""
        return stream_body_length(self.length, self.segment_size)

    @property
    def patient_address(self) -> str | None:
        """The v2 patient as a checksummed address (None for v1)."""
        return None if self.patient is None else to_checksum_address(self.patient)

    def _authenticated_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
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
        if self.version >= 2:
            obj.update(record_id=self.record_id, patient=self.patient, seal=self.seal)
        return obj

    def associated_data(self) -> bytes:
        """The AD of the wrapped key: a hash of every field except the wrapped key itself."""
        digest = hashlib.sha256(cbor2.dumps(self._authenticated_obj(), canonical=True))
        label = HEADER_AD_LABEL if self.version == 1 else HEADER_AD_LABEL_V2
        return label + digest.digest()


def parse_header(data: bytes) -> Header | HeaderV3:
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
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise EnvelopeFormatError(
            f"unsupported envelope format version {version!r} (this software reads"
            f" versions {', '.join(map(str, SUPPORTED_VERSIONS))})"
        )
    if doc.get("scheme") != SCHEME_ID:
        raise EnvelopeFormatError(
            f"unsupported envelope scheme {doc.get('scheme')!r} (expected {SCHEME_ID!r})"
        )
    if version == FORMAT_VERSION_V3:
        return parse_header_v3(doc, raw)
    fields = _FIELDS[version]
    if set(doc) != fields:
        missing = sorted(fields - set(doc))
        extra = sorted(str(k) for k in set(doc) - fields)
        raise EnvelopeFormatError(f"header fields: missing {missing}, unexpected {extra}")
    if version >= 2:
        _expect_bytes(doc, "record_id", RECORD_ID_SIZE)
        _expect_bytes(doc, "patient", PATIENT_SIZE)
        seal = doc["seal"]
        if not isinstance(seal, bytes) or not 16 < len(seal) <= MAX_SEAL_SIZE:
            raise EnvelopeFormatError(f"header seal must be 17-{MAX_SEAL_SIZE} bytes")
    _expect_bytes(doc, "salt", SALT_SIZE)
    _expect_bytes(doc, "wrapped_key", WRAPPED_KEY_SIZE)
    _expect_bytes(doc, "body_id", BODY_ID_SIZE)
    for name in ("segment_size", "length"):
        if isinstance(doc[name], bool) or not isinstance(doc[name], int):
            raise EnvelopeFormatError(f"header {name} must be an integer")
    check_segment_size(doc["segment_size"])
    if doc["length"] < 0:
        raise EnvelopeFormatError(f"header length must be >= 0, got {doc['length']}")
    if segment_count(doc["length"], doc["segment_size"]) > MAX_SEGMENTS:
        raise EnvelopeFormatError(f"header length {doc['length']} needs too many segments")
    if not isinstance(doc["content_type"], str):
        raise EnvelopeFormatError("header content_type must be a string")
    check_content_type(doc["content_type"])
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
        record_id=doc.get("record_id"),
        patient=doc.get("patient"),
        seal=doc.get("seal"),
    )
    if header.to_bytes() != raw:
        raise EnvelopeFormatError("header is not in canonical CBOR form")
    return header


def header_policy(data: bytes) -> str:
    """The policy text of a header, without checking the rest of it.

    For readers that need only the policy of a header that was fully checked when it was
    stored (:func:`parse_header` at upload) and comes back from a content-addressed store that
    verifies its hash: decoding the ABE ciphertext's group elements (a GT membership test
    each) costs milliseconds, which adds up when the API scans every record's policy."""
    if len(data) > MAX_HEADER_SIZE:
        raise EnvelopeFormatError(f"header is {len(data)} bytes, over the {MAX_HEADER_SIZE} limit")
    try:
        doc = cbor2.loads(bytes(data))
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise EnvelopeFormatError(f"header is not valid CBOR: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("policy"), str):
        raise EnvelopeFormatError("header has no policy text")
    return doc["policy"]


def _expect_bytes(doc: dict[str, Any], name: str, size: int) -> None:
    value = doc[name]
    if not isinstance(value, bytes) or len(value) != size:
        raise EnvelopeFormatError(f"header {name} must be {size} bytes")
