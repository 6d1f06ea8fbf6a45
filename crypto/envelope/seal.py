"""The author's seal: a signature over a record's content, carried inside its encryption.

Why: a record is re-keyed many times in its life (a grant added, a revocation, a member
leaving) and a re-key may be made by someone other than its author (the patient, a custodian
of the author's institution). The chain says who registered the record; nothing on chain says
what the plaintext was, since a digest of it would let anyone confirm a guess of a short record
("HIV: negative"). So the author signs ``RecordContent(recordId, patient, contentHash)`` with
the same key that signs the registration, the signature travels encrypted under the data key,
and every reader checks it after decrypting: a re-key that changed the content, or a body of
another record served under this one, is refused by the reader whoever made it.

- ``contentHash`` = SHA-256 of the plaintext; the message is EIP-712 typed data (domain
  ``MedLedger Record``, version 1, no chain id: the record id and patient bind it, and the
  reader compares the signer with the author the chain registered).
- The seal blob = AES-256-GCM(``K_seal``, nonce 0, CBOR ``{author, sig}``, AD = label ‖ record
  id ‖ patient) with ``K_seal = HKDF-SHA256(K, info = "medledger/envelope/v2/seal")``. ``K_seal``
  is single-use per data key ``K``: a header-only rewrap keeps ``K`` and copies the blob as it
  is, a full re-key draws a new ``K`` and encrypts the (carried-over) seal once under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account
from eth_account.messages import encode_typed_data

from crypto.addresses import to_checksum_address
from crypto.errors import EnvelopeFormatError, EnvelopeSealError

__all__ = [
    "RECORD_CONTENT_DOMAIN",
    "RECORD_CONTENT_TYPES",
    "AccountSealer",
    "RecordBinding",
    "Seal",
    "Sealer",
    "content_typed_data",
    "make_seal",
    "open_seal",
    "seal_blob",
    "seal_content",
    "verify_seal",
]

SEAL_INFO = b"medledger/envelope/v2/seal"
SEAL_AD_LABEL = b"medledger/envelope/v2/seal\x00"
SIGNATURE_SIZE = 65
RECORD_ID_SIZE = 32
ADDRESS_SIZE = 20
MAX_SEAL_BLOB = 256
_ZERO_NONCE = bytes(12)

RECORD_CONTENT_DOMAIN: dict[str, Any] = {"name": "MedLedger Record", "version": "1"}
RECORD_CONTENT_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
    ],
    "RecordContent": [
        {"name": "recordId", "type": "bytes32"},
        {"name": "patient", "type": "address"},
        {"name": "contentHash", "type": "bytes32"},
    ],
}


@dataclass(frozen=True)
class RecordBinding:
    """What an envelope v2 is bound to: the record id and the patient, as registered."""

    record_id: bytes
    patient: str

    def __post_init__(self) -> None:
        if not isinstance(self.record_id, bytes) or len(self.record_id) != RECORD_ID_SIZE:
            raise EnvelopeFormatError("a record id is 32 bytes")
        try:
            object.__setattr__(self, "patient", to_checksum_address(self.patient))
        except (ValueError, TypeError) as exc:
            raise EnvelopeFormatError(f"not a patient address: {self.patient!r}") from exc

    @property
    def patient_bytes(self) -> bytes:
        return bytes.fromhex(self.patient[2:])


@dataclass(frozen=True)
class Seal:
    """The author's address and their 65-byte signature of ``RecordContent``."""

    author: str
    signature: bytes

    def to_bytes(self) -> bytes:
        return cbor2.dumps(
            {"author": bytes.fromhex(self.author[2:]), "sig": self.signature}, canonical=True
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Seal:
        try:
            doc = cbor2.loads(data)
        except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
            raise EnvelopeSealError(f"the author's seal is not valid CBOR: {exc}") from exc
        if (
            not isinstance(doc, dict)
            or set(doc) != {"author", "sig"}
            or not isinstance(doc["author"], bytes)
            or len(doc["author"]) != ADDRESS_SIZE
            or not isinstance(doc["sig"], bytes)
            or len(doc["sig"]) != SIGNATURE_SIZE
        ):
            raise EnvelopeSealError("the author's seal has the wrong fields")
        return cls(author=to_checksum_address(doc["author"]), signature=doc["sig"])


class Sealer(Protocol):
    """Signs ``RecordContent`` as the record's author (a wallet, a hardware key, …)."""

    @property
    def address(self) -> str: ...

    def sign_content(self, typed_data: dict[str, Any]) -> bytes: ...


@dataclass(frozen=True)
class AccountSealer:
    """A :class:`Sealer` holding a local eth-account key (the SDK's and the tests' case)."""

    key: Any  # a LocalAccount, or anything with ``address`` and ``sign_message``

    @property
    def address(self) -> str:
        return str(self.key.address)

    def sign_content(self, typed_data: dict[str, Any]) -> bytes:
        signed = self.key.sign_message(encode_typed_data(full_message=typed_data))
        return bytes(signed.signature)


def content_typed_data(binding: RecordBinding, content_hash: bytes) -> dict[str, Any]:
    """The EIP-712 payload the author signs (``eth_signTypedData_v4`` JSON)."""
    return {
        "types": RECORD_CONTENT_TYPES,
        "primaryType": "RecordContent",
        "domain": RECORD_CONTENT_DOMAIN,
        "message": {
            "recordId": binding.record_id,
            "patient": binding.patient,
            "contentHash": content_hash,
        },
    }


def make_seal(sealer: Sealer, binding: RecordBinding, content_hash: bytes) -> Seal:
    signature = sealer.sign_content(content_typed_data(binding, content_hash))
    seal = Seal(author=to_checksum_address(sealer.address), signature=signature)
    verify_seal(seal, binding, content_hash)  # a sealer that signs as someone else fails here
    return seal


def seal_content(
    binding: RecordBinding, content_hash: bytes, *, sealer: Sealer | None, seal: Seal | None
) -> Seal:
    """The seal an encryption carries: a new one made by ``sealer``, or ``seal`` kept from the
    version being re-encrypted (checked against this record and content first)."""
    if sealer is not None:
        return make_seal(sealer, binding, content_hash)
    if seal is None:
        raise ValueError("a seal needs a sealer or the seal being carried over")
    verify_seal(seal, binding, content_hash)
    return seal


def verify_seal(seal: Seal, binding: RecordBinding, content_hash: bytes) -> str:
    """The author, once the signature is checked against this record and content."""
    try:
        signer = Account.recover_message(
            encode_typed_data(full_message=content_typed_data(binding, content_hash)),
            signature=seal.signature,
        )
    except Exception as exc:  # eth-keys raises several types for a malformed signature
        raise EnvelopeSealError(f"the author's seal is not a valid signature: {exc}") from exc
    if signer != seal.author:
        raise EnvelopeSealError(
            f"the record's content does not match its author's seal (signed by {signer}, "
            f"sealed as {seal.author}): it was changed after the author wrote it"
        )
    return signer


def seal_blob(data_key: bytes, binding: RecordBinding, seal: Seal) -> bytes:
    """The seal encrypted under the data key (see the module docstring)."""
    return AESGCM(_seal_key(data_key)).encrypt(_ZERO_NONCE, seal.to_bytes(), _ad(binding))


def open_seal(data_key: bytes, binding: RecordBinding, blob: bytes) -> Seal:
    try:
        plain = AESGCM(_seal_key(data_key)).decrypt(_ZERO_NONCE, blob, _ad(binding))
    except InvalidTag:
        raise EnvelopeSealError(
            "the author's seal does not open under this record's key and binding"
        ) from None
    return Seal.from_bytes(plain)


def _seal_key(data_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO).derive(data_key)


def _ad(binding: RecordBinding) -> bytes:
    return SEAL_AD_LABEL + binding.record_id + binding.patient_bytes
