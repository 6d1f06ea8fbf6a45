"""The record envelope: a CP-ABE-wrapped data key (header) and a segmented AEAD body.

- :mod:`~crypto.envelope.hybrid` — the KEM/DEM construction: encrypt, decrypt, rewrap;
- :mod:`~crypto.envelope.header` — the header's fields, canonical CBOR and strict parser
  (the API checks uploads with it, holding no key);
- :mod:`~crypto.envelope.seal` — the author's seal over the content (envelope v2).
"""

from crypto.envelope import keywrap
from crypto.envelope.header import FORMAT_VERSION, Header, header_policy, parse_header
from crypto.envelope.hybrid import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_SEGMENT_SIZE,
    DecryptedRecord,
    EncryptedRecord,
    check_binding,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    encrypt_stream,
    open_header_seal,
    rewrap,
    validate_body_stream,
)
from crypto.envelope.seal import AccountSealer, RecordBinding, Seal, Sealer

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_SEGMENT_SIZE",
    "FORMAT_VERSION",
    "AccountSealer",
    "DecryptedRecord",
    "EncryptedRecord",
    "Header",
    "RecordBinding",
    "Seal",
    "Sealer",
    "check_binding",
    "decrypt_bytes",
    "decrypt_stream",
    "encrypt_bytes",
    "encrypt_stream",
    "header_policy",
    "keywrap",
    "open_header_seal",
    "parse_header",
    "rewrap",
    "validate_body_stream",
]
