"""The patient's own X25519 key and the patient slot of envelope v3 (no authority needed).

Every record carries its data key wrapped to the patient's X25519 public key, registered on
chain (``ConsentManager.registerPatientKey``, EIP-712 ``PatientKey(address patient,bytes32
publicKey,uint64 version)``), so a patient reads their whole chart with every key authority
offline. Construction: ephemeral-static X25519 Diffie–Hellman (Bernstein, "Curve25519: new
Diffie-Hellman speed records", PKC 2006; RFC 7748; assumption: gap-CDH on Curve25519) with
HKDF-SHA256 (RFC 5869) and AES-256-GCM — an ECIES/DHIES-style KEM/DEM (Abdalla, Bellare,
Rogaway, CT-RSA 2001), as :func:`crypto.keys.seal`.

**Derivation from the wallet** (the SDK and the web app derive the same key): the wallet signs
the EIP-191 ``personal_sign`` message :func:`derivation_message` (fixed text naming the
address, no nonce, so the same wallet always gives the same signature: RFC 6979 deterministic
ECDSA in every common wallet), and::

    sk = HKDF-SHA256(ikm = signature (65 bytes r‖s‖v), salt = "medledger/patient-key/v1",
                     info = "medledger/patient-key/v1/x25519" ‖ address (20 bytes), L = 32)

``sk`` is the X25519 private scalar (clamped by X25519 itself); ``pk = X25519(sk, 9)``.
A wallet whose signatures are not deterministic must keep ``sk`` in its keystore instead; the
registered public key is what writers use, whatever produced it.

**Patient slot** (CBOR map in the header, key ``"pslot"``): ``{"epk": 32 bytes, "w": 48
bytes}``, with ``(esk, epk)`` a fresh X25519 pair, ``pk`` the registered key, and::

    KEK_P = HKDF-SHA256(ikm = X25519(esk, pk), salt = header salt (32 bytes),
                        info = "medledger/envelope/v3/patient" ‖ 0x00 ‖ epk ‖ pk, L = 32)
    w     = AES-256-GCM(KEK_P, nonce = 0^96, K, AD = header AD)

(the header AD is :meth:`crypto.envelope.header.Header.associated_data`). An all-zero shared
secret (a low-order ``pk``) is refused.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address

from crypto.errors import EnvelopeAccessDeniedError, EnvelopeFormatError

__all__ = [
    "DERIVATION_INFO",
    "DERIVATION_SALT",
    "PATIENT_SLOT_INFO",
    "PatientKey",
    "derivation_message",
    "derive_from_account",
    "derive_from_signature",
    "new_ephemeral",
    "open_patient_slot",
    "registration_typed_data",
    "wrap_to_patient",
]

KEY_SIZE = 32
WRAPPED_SIZE = 48
DERIVATION_SALT = b"medledger/patient-key/v1"
DERIVATION_INFO = b"medledger/patient-key/v1/x25519"
PATIENT_SLOT_INFO = b"medledger/envelope/v3/patient\x00"
_ZERO_NONCE = bytes(12)


def derivation_message(address: str) -> str:
    """The fixed EIP-191 text the wallet signs to derive the patient key (no nonce, no time)."""
    return (
        "MedLedger patient key v1\n"
        "Sign to unlock your own MedLedger records on this device.\n"
        "This signature is not a transaction and costs nothing.\n"
        f"Account: {to_checksum_address(address)}"
    )


class PatientKey:
    """A patient's X25519 private key (32 bytes) and its public key."""

    __slots__ = ("_private", "public_key")

    def __init__(self, private_key: bytes) -> None:
        if not isinstance(private_key, bytes) or len(private_key) != KEY_SIZE:
            raise EnvelopeFormatError("a patient key is 32 bytes")
        self._private = X25519PrivateKey.from_private_bytes(private_key)
        self.public_key = self._private.public_key().public_bytes_raw()

    def private_bytes(self) -> bytes:
        return self._private.private_bytes_raw()

    def exchange(self, peer: bytes) -> bytes:
        return _exchange(self._private, peer)


def derive_from_signature(signature: bytes, address: str) -> PatientKey:
    """The patient key from the wallet's signature of :func:`derivation_message`."""
    if not isinstance(signature, bytes) or len(signature) != 65:
        raise EnvelopeFormatError("the derivation signature is 65 bytes (r‖s‖v)")
    raw_address = bytes.fromhex(to_checksum_address(address)[2:])
    sk = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=DERIVATION_SALT,
        info=DERIVATION_INFO + raw_address,
    ).derive(signature)
    return PatientKey(sk)


def derive_from_account(account: object) -> PatientKey:
    """The patient key of a local eth-account (``sign_message`` + ``address``)."""
    address = str(account.address)  # type: ignore[attr-defined]
    signed = account.sign_message(encode_defunct(text=derivation_message(address)))  # type: ignore[attr-defined]
    return derive_from_signature(bytes(signed.signature), address)


def registration_typed_data(
    *, patient: str, public_key: bytes, version: int, chain_id: int, verifying_contract: str
) -> dict[str, object]:
    """The EIP-712 ``PatientKey`` message ``ConsentManager.registerPatientKey`` checks
    (domain "MedLedger ConsentManager", version "1")."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "PatientKey": [
                {"name": "patient", "type": "address"},
                {"name": "publicKey", "type": "bytes32"},
                {"name": "version", "type": "uint64"},
            ],
        },
        "primaryType": "PatientKey",
        "domain": {
            "name": "MedLedger ConsentManager",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(verifying_contract),
        },
        "message": {
            "patient": to_checksum_address(patient),
            "publicKey": public_key,
            "version": version,
        },
    }


def _kek(shared: bytes, salt: bytes, epk: bytes, pk: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=PATIENT_SLOT_INFO + epk + pk
    ).derive(shared)


def _exchange(private: X25519PrivateKey, peer: bytes) -> bytes:
    if not isinstance(peer, bytes) or len(peer) != KEY_SIZE:
        raise EnvelopeFormatError("an X25519 public key is 32 bytes")
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError as exc:
        raise EnvelopeFormatError(f"unusable X25519 public key: {exc}") from exc
    if shared == bytes(KEY_SIZE):
        raise EnvelopeFormatError("X25519 gave the all-zero secret (low-order public key)")
    return shared


def new_ephemeral(patient_public_key: bytes, *, esk: bytes | None = None) -> tuple[bytes, bytes]:
    """A fresh ``(epk, shared)`` for wrapping to ``patient_public_key``; ``esk`` fixes the
    ephemeral private key (reproducible test vectors only; generated when omitted)."""
    key = X25519PrivateKey.generate() if esk is None else X25519PrivateKey.from_private_bytes(esk)
    shared = _exchange(key, patient_public_key)
    return key.public_key().public_bytes_raw(), shared


def wrap_to_patient(
    data_key: bytes, *, epk: bytes, shared: bytes, patient_public_key: bytes, salt: bytes, ad: bytes
) -> bytes:
    """``w`` of the patient slot (see the module docstring)."""
    kek = _kek(shared, salt, epk, patient_public_key)
    return AESGCM(kek).encrypt(_ZERO_NONCE, data_key, ad)


def open_patient_slot(
    key: PatientKey, *, epk: bytes, wrapped: bytes, salt: bytes, ad: bytes
) -> bytes:
    """The data key from the patient slot; refused when the slot is not for this key."""
    shared = key.exchange(epk)
    kek = _kek(shared, salt, epk, key.public_key)
    try:
        return AESGCM(kek).decrypt(_ZERO_NONCE, wrapped, ad)
    except InvalidTag:
        raise EnvelopeAccessDeniedError(
            "the patient slot does not open with this patient key (another patient's record, "
            "or the header was altered)"
        ) from None
