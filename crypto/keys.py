"""Key files: CBOR serialisation of FAME keys, passphrase encryption, and sealed boxes.

Three formats, each a CBOR map with a format version ``v`` and a ``kind``:

- **key** (``kind`` = ``mpk`` | ``msk`` | ``user-key``): ``{v, kind, scheme, key}`` where ``key``
  is the scheme object's ``to_obj()`` form. Loading checks version, kind and scheme id before
  handing ``key`` to the scheme's ``from_obj`` (which checks curve and subgroup membership),
  so a user key can never be loaded as a master key or a key of another scheme.
- **passphrase box** (``kind`` = ``passphrase-box``): how the key authority keeps the master
  secret key at rest. ``K = scrypt(passphrase, salt, n, r, p)`` (Percival, "Stronger key
  derivation via sequential memory-hard functions", 2009; RFC 7914), then AES-256-GCM under
  ``K`` with a random nonce. The associated data is the canonical CBOR of every other field
  (version, KDF parameters, salt, purpose), so the parameters cannot be lowered and a box made
  for one purpose cannot be opened as another. scrypt parameters are bounded on load (a file
  must not make us allocate gigabytes).
- **sealed box** (``kind`` = ``sealed-box``): how a user key travels to its owner. ECIES over
  X25519 (RFC 7748): an ephemeral key pair ``(e, E)``, ``Z = X25519(e, R)`` for the recipient
  key ``R``, ``K = HKDF-SHA256(Z, salt = E ‖ R, info = label ‖ purpose)``, AES-256-GCM with an
  all-zero nonce (``K`` is single-use because ``e`` is fresh) and associated data
  ``label ‖ purpose ‖ E ‖ R``. The box names ``R`` so that opening it with another private key
  says "wrong recipient" instead of "tampered"; binding ``E``, ``R`` and the purpose in the key
  derivation *and* the AD stops a box being re-targeted or replayed for another purpose. The
  all-zero shared secret (a low-order ``R`` or ``E``) is refused.

The API never holds the user's X25519 private key: the requester sends ``R`` and gets back a
box only it can open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crypto.errors import (
    CryptoError,
    KeyFormatError,
    SealError,
    WrongPassphraseError,
    WrongRecipientError,
)
from crypto.fame_types import SCHEME_ID, MasterPublicKey, MasterSecretKey, UserKey

FORMAT_VERSION = 1
KIND_MPK = "mpk"
KIND_MSK = "msk"
KIND_USER_KEY = "user-key"
KIND_PASSPHRASE_BOX = "passphrase-box"
KIND_SEALED_BOX = "sealed-box"

PURPOSE_MASTER_SECRET_KEY = "medledger/master-secret-key"
PURPOSE_USER_KEY = "medledger/user-key"

SCRYPT_DEFAULT_LOG2_N = 17  # 128 MiB with r = 8: RFC 7914 / OWASP interactive-login level
SCRYPT_MIN_LOG2_N = 10
SCRYPT_MAX_LOG2_N = 20
SCRYPT_R = 8
SCRYPT_P = 1
SALT_SIZE = 16
NONCE_SIZE = 12
X25519_KEY_SIZE = 32
SEAL_LABEL = b"medledger/sealed-box/v1\x00"
SEAL_ALG = "x25519-hkdf-sha256-aes256gcm"
PASSPHRASE_ALG = "scrypt-aes256gcm"
_ZERO_NONCE = bytes(NONCE_SIZE)


class SchemeKey(Protocol):
    """What a key class of the ABE scheme offers (FAME's keys do)."""

    def to_obj(self) -> Any: ...


@dataclass(frozen=True)
class X25519KeyPair:
    """A requester's key pair for receiving sealed user keys (raw 32-byte encodings)."""

    private_key: bytes
    public_key: bytes


# --- FAME keys -------------------------------------------------------------------------------


def dump_key(key: SchemeKey, *, kind: str, scheme: str) -> bytes:
    """CBOR of a scheme key with its version, kind and scheme id."""
    if kind not in (KIND_MPK, KIND_MSK, KIND_USER_KEY):
        raise KeyFormatError(f"unknown key kind {kind!r}")
    return _encode({"v": FORMAT_VERSION, "kind": kind, "scheme": scheme, "key": key.to_obj()})


def load_key(data: bytes, *, kind: str, scheme: str, from_obj: Any) -> Any:
    """Inverse of :func:`dump_key`; ``from_obj`` is the scheme class's validating loader."""
    doc = _decode(data, what="key", error=KeyFormatError)
    _expect_fields(doc, {"v", "kind", "scheme", "key"}, what="key", error=KeyFormatError)
    _expect_version(doc, what="key", error=KeyFormatError)
    if doc["kind"] != kind:
        raise KeyFormatError(f"expected a {kind!r} key, this file holds a {doc['kind']!r}")
    if doc["scheme"] != scheme:
        raise KeyFormatError(f"key is for scheme {doc['scheme']!r}, expected {scheme!r}")
    try:
        return from_obj(doc["key"])
    except CryptoError as exc:
        raise KeyFormatError(f"invalid {kind} key material: {exc}") from exc
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise KeyFormatError(f"invalid {kind} key structure: {exc!r}") from exc


def dump_master_public_key(mpk: MasterPublicKey) -> bytes:
    """The key authority publishes this file; every client encrypts records with it."""
    return dump_key(mpk, kind=KIND_MPK, scheme=SCHEME_ID)


def load_master_public_key(data: bytes) -> MasterPublicKey:
    """Load a published master public key, refusing any other kind, scheme or bad point, and
    degenerate keys (``T_1`` or ``T_2`` the GT identity, ``T_1 = T_2``, ``H_1 = H_2``: see
    :class:`crypto.fame_types.MasterPublicKey`) with :class:`KeyFormatError` whose cause is
    :class:`crypto.errors.DegenerateKeyError`."""
    return load_key(data, kind=KIND_MPK, scheme=SCHEME_ID, from_obj=MasterPublicKey.from_obj)


def dump_user_key(user_key: UserKey) -> bytes:
    """Plain CBOR of a user key: what :func:`seal_user_key` puts in the box."""
    return dump_key(user_key, kind=KIND_USER_KEY, scheme=SCHEME_ID)


def load_user_key(data: bytes) -> UserKey:
    """Load a user key (e.g. from the doctor's key store), with curve and subgroup checks."""
    return load_key(data, kind=KIND_USER_KEY, scheme=SCHEME_ID, from_obj=UserKey.from_obj)


def dump_master_secret_key(msk: MasterSecretKey) -> bytes:
    """The plain CBOR of the master secret key: an input to :func:`encrypt_master_secret_key`
    or the key authority's memory only; never write it to disk."""
    return dump_key(msk, kind=KIND_MSK, scheme=SCHEME_ID)


def load_master_secret_key(data: bytes) -> MasterSecretKey:
    """Inverse of :func:`dump_master_secret_key`; used after the passphrase box is opened."""
    return load_key(data, kind=KIND_MSK, scheme=SCHEME_ID, from_obj=MasterSecretKey.from_obj)


def encrypt_master_secret_key(
    msk: MasterSecretKey, passphrase: str | bytes, *, log2_n: int = SCRYPT_DEFAULT_LOG2_N
) -> bytes:
    """The at-rest form of the master secret key (a passphrase box of its CBOR)."""
    return encrypt_with_passphrase(
        dump_master_secret_key(msk), passphrase, purpose=PURPOSE_MASTER_SECRET_KEY, log2_n=log2_n
    )


def decrypt_master_secret_key(blob: bytes, passphrase: str | bytes) -> MasterSecretKey:
    """Load the key authority's master secret key; :class:`WrongPassphraseError` if wrong."""
    plain = decrypt_with_passphrase(blob, passphrase, purpose=PURPOSE_MASTER_SECRET_KEY)
    return load_master_secret_key(plain)


def seal_user_key(user_key: UserKey, recipient_public_key: bytes) -> bytes:
    """A user key in a box only the requester's X25519 private key opens (what the API returns)."""
    return seal(dump_user_key(user_key), recipient_public_key, purpose=PURPOSE_USER_KEY)


def open_user_key(box: bytes, recipient_private_key: bytes) -> UserKey:
    """Open a sealed user key; :class:`WrongRecipientError` if it was sealed to another key."""
    return load_user_key(open_sealed(box, recipient_private_key, purpose=PURPOSE_USER_KEY))


# --- passphrase encryption -------------------------------------------------------------------


def encrypt_with_passphrase(
    plaintext: bytes,
    passphrase: str | bytes,
    *,
    purpose: str,
    log2_n: int = SCRYPT_DEFAULT_LOG2_N,
) -> bytes:
    """Encrypt ``plaintext`` under a passphrase (scrypt + AES-256-GCM) for storage at rest."""
    _check_scrypt(log2_n, SCRYPT_R, SCRYPT_P, error=CryptoError)
    salt = os.urandom(SALT_SIZE)
    nonce = os.urandom(NONCE_SIZE)
    params = {
        "v": FORMAT_VERSION,
        "kind": KIND_PASSPHRASE_BOX,
        "alg": PASSPHRASE_ALG,
        "log2_n": log2_n,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": salt,
        "nonce": nonce,
        "purpose": purpose,
    }
    key = _scrypt(passphrase, salt, log2_n, SCRYPT_R, SCRYPT_P)
    ct = AESGCM(key).encrypt(nonce, plaintext, _encode(params))
    return _encode({**params, "ct": ct})


def decrypt_with_passphrase(blob: bytes, passphrase: str | bytes, *, purpose: str) -> bytes:
    """Open a passphrase box; :class:`WrongPassphraseError` when the passphrase is wrong."""
    doc = _decode(blob, what="passphrase box", error=KeyFormatError)
    fields = {"v", "kind", "alg", "log2_n", "r", "p", "salt", "nonce", "purpose", "ct"}
    _expect_fields(doc, fields, what="passphrase box", error=KeyFormatError)
    _expect_version(doc, what="passphrase box", error=KeyFormatError)
    if doc["kind"] != KIND_PASSPHRASE_BOX or doc["alg"] != PASSPHRASE_ALG:
        raise KeyFormatError(f"not a passphrase box: kind {doc['kind']!r}, alg {doc['alg']!r}")
    _check_scrypt(doc["log2_n"], doc["r"], doc["p"], error=KeyFormatError)
    _expect_bytes(doc, "salt", SALT_SIZE, error=KeyFormatError)
    _expect_bytes(doc, "nonce", NONCE_SIZE, error=KeyFormatError)
    if not isinstance(doc["ct"], bytes):
        raise KeyFormatError("passphrase box ciphertext must be bytes")
    if doc["purpose"] != purpose:
        raise KeyFormatError(f"passphrase box was made for {doc['purpose']!r}, not for {purpose!r}")
    params = {k: v for k, v in doc.items() if k != "ct"}
    key = _scrypt(passphrase, doc["salt"], doc["log2_n"], doc["r"], doc["p"])
    try:
        return AESGCM(key).decrypt(doc["nonce"], doc["ct"], _encode(params))
    except InvalidTag:
        raise WrongPassphraseError(
            "wrong passphrase (or the encrypted key file was altered)"
        ) from None


# --- sealed boxes ----------------------------------------------------------------------------


def generate_x25519_keypair() -> X25519KeyPair:
    private = X25519PrivateKey.generate()
    return X25519KeyPair(
        private_key=private.private_bytes_raw(),
        public_key=private.public_key().public_bytes_raw(),
    )


def x25519_public_key(private_key: bytes) -> bytes:
    return _x25519_private(private_key).public_key().public_bytes_raw()


def seal(plaintext: bytes, recipient_public_key: bytes, *, purpose: str) -> bytes:
    """Encrypt ``plaintext`` so that only the holder of the matching private key opens it."""
    recipient = _x25519_public(recipient_public_key)
    ephemeral = X25519PrivateKey.generate()
    epk = ephemeral.public_key().public_bytes_raw()
    rpk = recipient.public_bytes_raw()
    key = _seal_key(_exchange(ephemeral, recipient), epk, rpk, purpose)
    ct = AESGCM(key).encrypt(_ZERO_NONCE, plaintext, _seal_ad(purpose, epk, rpk))
    return _encode(
        {
            "v": FORMAT_VERSION,
            "kind": KIND_SEALED_BOX,
            "alg": SEAL_ALG,
            "purpose": purpose,
            "epk": epk,
            "rpk": rpk,
            "ct": ct,
        }
    )


def open_sealed(box: bytes, recipient_private_key: bytes, *, purpose: str) -> bytes:
    """Open a sealed box with the recipient's private key.

    :class:`WrongRecipientError` if it was sealed to another key, :class:`SealError` if it
    is malformed, made for another purpose, or fails authentication."""
    doc = _decode(box, what="sealed box", error=SealError)
    fields = {"v", "kind", "alg", "purpose", "epk", "rpk", "ct"}
    _expect_fields(doc, fields, what="sealed box", error=SealError)
    _expect_version(doc, what="sealed box", error=SealError)
    if doc["kind"] != KIND_SEALED_BOX or doc["alg"] != SEAL_ALG:
        raise SealError(f"not a sealed box: kind {doc['kind']!r}, alg {doc['alg']!r}")
    _expect_bytes(doc, "epk", X25519_KEY_SIZE, error=SealError)
    _expect_bytes(doc, "rpk", X25519_KEY_SIZE, error=SealError)
    if not isinstance(doc["ct"], bytes):
        raise SealError("sealed box ciphertext must be bytes")
    private = _x25519_private(recipient_private_key)
    own = private.public_key().public_bytes_raw()
    if doc["rpk"] != own:
        raise WrongRecipientError(
            f"sealed for X25519 key {doc['rpk'].hex()[:16]}…, not for this key {own.hex()[:16]}…"
        )
    if doc["purpose"] != purpose:
        raise SealError(f"sealed box was made for {doc['purpose']!r}, not for {purpose!r}")
    try:
        peer = X25519PublicKey.from_public_bytes(doc["epk"])
    except ValueError as exc:
        raise SealError(f"invalid ephemeral key: {exc}") from exc
    key = _seal_key(_exchange(private, peer), doc["epk"], own, purpose)
    try:
        return AESGCM(key).decrypt(_ZERO_NONCE, doc["ct"], _seal_ad(purpose, doc["epk"], own))
    except InvalidTag:
        raise SealError("sealed box failed authentication: it was altered") from None


# --- internals -------------------------------------------------------------------------------


def _encode(obj: Any) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def _decode(data: bytes, *, what: str, error: type[CryptoError]) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise error(f"{what} must be bytes, got {type(data).__name__}")
    try:
        doc = cbor2.loads(bytes(data))
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise error(f"{what} is not valid CBOR: {exc}") from exc
    if not isinstance(doc, dict):
        raise error(f"{what} must be a CBOR map, got {type(doc).__name__}")
    if _encode(doc) != bytes(data):
        raise error(f"{what} is not in canonical CBOR form")
    return doc


def _expect_fields(
    doc: dict[str, Any], fields: set[str], *, what: str, error: type[CryptoError]
) -> None:
    keys = set(doc)
    if keys != fields:
        missing = sorted(fields - keys, key=str)
        extra = sorted(keys - fields, key=str)
        raise error(f"{what} fields are wrong: missing {missing}, unexpected {extra}")


def _expect_version(doc: dict[str, Any], *, what: str, error: type[CryptoError]) -> None:
    if doc["v"] != FORMAT_VERSION or isinstance(doc["v"], bool):
        raise error(f"unsupported {what} format version {doc['v']!r} (expected {FORMAT_VERSION})")


def _expect_bytes(doc: dict[str, Any], name: str, size: int, *, error: type[CryptoError]) -> None:
    value = doc[name]
    if not isinstance(value, bytes) or len(value) != size:
        raise error(f"{name} must be {size} bytes")


def _check_scrypt(log2_n: Any, r: Any, p: Any, *, error: type[CryptoError]) -> None:
    for name, value in (("log2_n", log2_n), ("r", r), ("p", p)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise error(f"scrypt parameter {name} must be an integer, got {value!r}")
    if not SCRYPT_MIN_LOG2_N <= log2_n <= SCRYPT_MAX_LOG2_N:
        raise error(
            f"scrypt log2(n) must be in [{SCRYPT_MIN_LOG2_N}, {SCRYPT_MAX_LOG2_N}], got {log2_n}"
        )
    if not 1 <= r <= 32 or not 1 <= p <= 16:
        raise error(f"scrypt r must be in [1, 32] and p in [1, 16], got r={r}, p={p}")


def _scrypt(passphrase: str | bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    if not secret:
        raise CryptoError("passphrase must not be empty")
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p).derive(secret)


def _x25519_private(private_key: bytes) -> X25519PrivateKey:
    try:
        return X25519PrivateKey.from_private_bytes(bytes(private_key))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SealError(f"invalid X25519 private key: {exc}") from exc


def _x25519_public(public_key: bytes) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(bytes(public_key))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SealError(f"invalid X25519 public key: {exc}") from exc


def _exchange(private: X25519PrivateKey, public: X25519PublicKey) -> bytes:
    try:
        shared = private.exchange(public)
    except ValueError as exc:  # OpenSSL refuses an all-zero result (low-order point)
        raise SealError(f"X25519 exchange failed (low-order public key): {exc}") from exc
    if shared == bytes(32):
        raise SealError("X25519 exchange gave the all-zero secret (low-order public key)")
    return shared


def _seal_key(shared: bytes, epk: bytes, rpk: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=epk + rpk,
        info=SEAL_LABEL + purpose.encode("utf-8"),
    ).derive(shared)


def _seal_ad(purpose: str, epk: bytes, rpk: bytes) -> bytes:
    encoded = purpose.encode("utf-8")
    return SEAL_LABEL + len(encoded).to_bytes(2, "big") + encoded + epk + rpk
