"""The key authority's key pair at rest: FAME master keys in a passphrase box.

Scheme: FAME CP-ABE (Agrawal & Chase, ACM CCS 2017, IACR eprint 2017/807), k = 2, DLIN
assumption, BLS12-381 — see :mod:`crypto.fame`. The authority is the one party that runs
``KeyGen(msk, S)``; this module is the part that needs no request context (creating, opening
and checking the key files), so that the application context can hold a loaded
:class:`KeyAuthority` without importing the issuing service, which needs the context.

- the master secret key ``msk`` lives on disk only inside a passphrase box
  (:func:`crypto.keys.encrypt_master_secret_key`: scrypt + AES-256-GCM), written once by
  ``medledger authority init`` and never overwritten (a second ``setup`` would silently
  orphan every record encrypted under the first ``mpk``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from crypto import fame
from crypto.errors import CryptoError, KeyFormatError, WrongPassphraseError
from crypto.fame_types import SCHEME_ID, MasterPublicKey, MasterSecretKey, UserKey
from crypto.keys import (
    SCRYPT_DEFAULT_LOG2_N,
    decrypt_master_secret_key,
    dump_master_public_key,
    encrypt_master_secret_key,
    load_master_public_key,
)
from ledger_api.errors import LedgerApiError

__all__ = [
    "MPK_FILE",
    "MSK_FILE",
    "AuthorityError",
    "AuthorityExistsError",
    "AuthorityFiles",
    "AuthorityKeyMismatchError",
    "AuthorityNotFoundError",
    "AuthorityPassphraseError",
    "KeyAuthority",
    "PublicKeyInfo",
    "init_authority",
]


@dataclass(frozen=True)
class PublicKeyInfo:
    scheme: str
    mpk: bytes
    mpk_sha256: str
    epoch: int = 1
    floor: int = 1


MPK_FILE = "mpk.cbor"
MSK_FILE = "msk.enc"


class AuthorityError(LedgerApiError):
    """Base class for failures of the key authority's files and keys."""


class AuthorityExistsError(AuthorityError):
    """``init`` found key files already there (overwriting would orphan every record)."""


class AuthorityNotFoundError(AuthorityError):
    """The authority directory lacks ``mpk.cbor`` or ``msk.enc``."""


class AuthorityPassphraseError(AuthorityError):
    """The passphrase does not open ``msk.enc`` (or the file was altered)."""


class AuthorityKeyMismatchError(AuthorityError):
    """``mpk.cbor`` and ``msk.enc`` are readable but are not one key pair."""


@dataclass(frozen=True)
class AuthorityFiles:
    """Where ``init`` wrote the keys, and the published key's fingerprint."""

    directory: Path
    mpk_path: Path
    msk_path: Path
    mpk_sha256: str


def init_authority(
    directory: Path, passphrase: str, *, log2_n: int = SCRYPT_DEFAULT_LOG2_N
) -> AuthorityFiles:
    """Run FAME ``Setup`` once and write ``mpk.cbor`` and the passphrase-boxed ``msk.enc``.

    Refuses if either file exists. Files are created exclusively and fsynced; ``msk.enc`` is
    mode 0600. The master secret key is written last, so a crash leaves at worst an ``mpk``
    without its secret, which :meth:`KeyAuthority.load` reports instead of half-working.
    """
    if not passphrase:
        raise AuthorityPassphraseError("the passphrase must not be empty")
    mpk_path, msk_path = directory / MPK_FILE, directory / MSK_FILE
    existing = [p.name for p in (mpk_path, msk_path) if p.exists()]
    if existing:
        raise AuthorityExistsError(
            f"{directory} already holds {', '.join(existing)}; refusing to overwrite the "
            "authority's keys (records encrypted under them would become unreadable)"
        )
    mpk, msk = fame.setup()
    try:
        boxed = encrypt_master_secret_key(msk, passphrase, log2_n=log2_n)
    except CryptoError as exc:
        raise AuthorityError(f"cannot encrypt the master secret key: {exc}") from exc
    mpk_bytes = dump_master_public_key(mpk)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # the API's alone (at_rest)
    _write_new(mpk_path, mpk_bytes, mode=0o600)
    _write_new(msk_path, boxed, mode=0o600)
    return AuthorityFiles(
        directory=directory,
        mpk_path=mpk_path,
        msk_path=msk_path,
        mpk_sha256=hashlib.sha256(mpk_bytes).hexdigest(),
    )


def _write_new(path: Path, data: bytes, *, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise AuthorityExistsError(f"{path} appeared while initialising; not overwriting") from None
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class KeyAuthority:
    """The loaded key pair; ``issue`` is FAME ``KeyGen`` for an attribute set."""

    def __init__(self, *, mpk: MasterPublicKey, msk: MasterSecretKey, mpk_bytes: bytes) -> None:
        self.mpk = mpk
        self._msk = msk
        self.mpk_bytes = mpk_bytes
        self.mpk_sha256 = hashlib.sha256(mpk_bytes).hexdigest()

    def __repr__(self) -> str:  # never the secret
        return f"KeyAuthority(mpk_sha256={self.mpk_sha256[:16]}…)"

    @classmethod
    def load(cls, directory: Path, passphrase: str) -> KeyAuthority:
        """Open the key files; checks that they are one pair before serving any key.

        The check is a full FAME round trip (key for a probe attribute, encrypt, decrypt):
        an ``mpk.cbor`` swapped for another authority's would otherwise let the API issue keys
        that open nothing, and nobody would notice until a doctor could not read a record.
        """
        mpk_path, msk_path = Path(directory) / MPK_FILE, Path(directory) / MSK_FILE
        missing = [p.name for p in (mpk_path, msk_path) if not p.is_file()]
        if missing:
            raise AuthorityNotFoundError(
                f"{directory} has no {' or '.join(missing)}; run `medledger authority init`"
            )
        mpk_bytes = mpk_path.read_bytes()
        try:
            mpk = load_master_public_key(mpk_bytes)
        except KeyFormatError as exc:
            raise AuthorityError(f"{mpk_path} is not a master public key: {exc}") from exc
        try:
            msk = decrypt_master_secret_key(msk_path.read_bytes(), passphrase)
        except WrongPassphraseError as exc:
            raise AuthorityPassphraseError(f"cannot open {msk_path}: {exc}") from exc
        except CryptoError as exc:
            raise AuthorityError(f"{msk_path} is not an encrypted master key: {exc}") from exc
        authority = cls(mpk=mpk, msk=msk, mpk_bytes=mpk_bytes)
        authority._check_pair()
        return authority

    def _check_pair(self) -> None:
        probe = "uid:key-authority-self-check"
        ciphertext, element = fame.encrypt(self.mpk, probe)
        if fame.decrypt(fame.keygen(self._msk, [probe]), ciphertext) != element:
            raise AuthorityKeyMismatchError(
                "mpk.cbor and msk.enc are not one key pair (was one of them replaced?)"
            )

    def issue(self, attributes: Iterable[str]) -> UserKey:
        return fame.keygen(self._msk, attributes)

    def public_info(self) -> PublicKeyInfo:
        return PublicKeyInfo(scheme=SCHEME_ID, mpk=self.mpk_bytes, mpk_sha256=self.mpk_sha256)
