"""The record envelope: a CP-ABE-wrapped data key (header) and a segmented AEAD body.

- :mod:`~crypto.envelope.hybrid` — the KEM/DEM construction: encrypt, decrypt, rewrap;
- :mod:`~crypto.envelope.header` — the header's fields, canonical CBOR and strict parser
  (the API checks uploads with it, holding no key);
- :mod:`~crypto.envelope.seal` — the author's seal over the content (envelope v2);
- :mod:`~crypto.envelope.header_v3` / :mod:`~crypto.envelope.hybrid_v3` — envelope v3: one
  FAME slot per institution reached (each institution's own authority), the patient slot.
"""

from crypto.envelope import keywrap
from crypto.envelope.header import FORMAT_VERSION, Header, header_policy, parse_header
from crypto.envelope.header_v3 import HeaderV3, set_emergency_validator
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
from crypto.envelope.hybrid_v3 import (
    AuthorityKey,
    EncryptedRecordV3,
    authority_digest,
    decrypt_bytes_v3,
    decrypt_stream_v3,
    encrypt_bytes_v3,
    encrypt_stream_v3,
    open_data_key,
    rewrap_v3,
)
from crypto.envelope.seal import AccountSealer, RecordBinding, Seal, Sealer

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_SEGMENT_SIZE",
    "FORMAT_VERSION",
    "AccountSealer",
    "AuthorityKey",
    "DecryptedRecord",
    "EncryptedRecord",
    "EncryptedRecordV3",
    "Header",
    "HeaderV3",
    "RecordBinding",
    "Seal",
    "Sealer",
    "authority_digest",
    "check_binding",
    "decrypt_bytes",
    "decrypt_bytes_v3",
    "decrypt_stream",
    "decrypt_stream_v3",
    "encrypt_bytes",
    "encrypt_bytes_v3",
    "encrypt_stream",
    "encrypt_stream_v3",
    "header_policy",
    "keywrap",
    "open_data_key",
    "open_header_seal",
    "parse_header",
    "rewrap",
    "rewrap_v3",
    "set_emergency_validator",
    "validate_body_stream",
]
