"""One institution's key authority at rest: a single passphrase-encrypted key file.

No single key escrow (``docs/key-authorities.md``): each institution runs its own FAME key
authority (Agrawal & Chase, ACM CCS 2017, IACR eprint 2017/807; k-Lin with k = 2 = DLIN,
BLS12-381, :mod:`crypto.fame`) in its own process (``medledger authority serve``) with its own
key file. The file (canonical CBOR, mode 0600) holds::

    {"v": 1, "kind": "medledger-institution-authority", "institution": uint32,
     "mpk": bstr (crypto.keys.dump_master_public_key), "signer": bstr 20 (address),
     "msk": passphrase box (scrypt + AES-256-GCM, purpose "master-secret-key"),
     "signer_key": passphrase box of the 32-byte secp256k1 key (purpose "authority-signer")}

``mpk``'s SHA-256 is what the institution's admin records on chain
(``Consortium.registerAuthority``) and what every client pins. The signer account sends the
authority's own transactions (``Consortium.logKeyIssued``): each issuance is on chain under
the authority's own account, not the API's relayer.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cbor2
from eth_account import Account
from eth_account.signers.local import LocalAccount

from crypto import fame
from crypto.errors import CryptoError, WrongPassphraseError
from crypto.fame_types import MasterPublicKey, MasterSecretKey, UserKey
from crypto.keys import (
    SCRYPT_DEFAULT_LOG2_N,
    decrypt_master_secret_key,
    decrypt_with_passphrase,
    dump_master_public_key,
    encrypt_master_secret_key,
    encrypt_with_passphrase,
    load_master_public_key,
)
from ledger_api.authority.keystore import (
    AuthorityError,
    AuthorityExistsError,
    AuthorityKeyMismatchError,
    AuthorityNotFoundError,
    AuthorityPassphraseError,
)

__all__ = ["KIND", "InstitutionAuthority", "init_key_file", "load_key_file"]

KIND = "medledger-institution-authority"
SIGNER_PURPOSE = "authority-signer"
_FIELDS = frozenset({"v", "kind", "institution", "mpk", "signer", "msk", "signer_key"})


class InstitutionAuthority:
    """A loaded authority: ``issue`` is FAME ``KeyGen``; ``signer`` its chain account."""

    def __init__(
        self,
        *,
        institution_id: int,
        mpk: MasterPublicKey,
        msk: MasterSecretKey,
        mpk_bytes: bytes,
        signer: LocalAccount,
    ) -> None:
        self.institution_id = institution_id
        self.mpk = mpk
        self._msk = msk
        self.mpk_bytes = mpk_bytes
        self.digest = hashlib.sha256(mpk_bytes).digest()
        self.signer = signer

    def __repr__(self) -> str:  # never the secret
        return (
            f"InstitutionAuthority(institution={self.institution_id}, "
            f"digest={self.digest.hex()[:16]}…, signer={self.signer.address})"
        )

    def issue(self, attributes: Iterable[str]) -> UserKey:
        return fame.keygen(self._msk, attributes)

    def master_secret_key(self) -> MasterSecretKey:
        """For the escrow tests only (an attacker who stole this authority's secret)."""
        return self._msk


def init_key_file(
    path: Path,
    passphrase: str,
    *,
    institution_id: int,
    log2_n: int = SCRYPT_DEFAULT_LOG2_N,
) -> InstitutionAuthority:
    """FAME ``Setup`` and a fresh signer account, written once to ``path`` (never overwritten)."""
    if not passphrase:
        raise AuthorityPassphraseError("the passphrase must not be empty")
    if isinstance(institution_id, bool) or not 0 < institution_id < 2**32:
        raise AuthorityError(f"institution id must be 1..2^32-1, got {institution_id!r}")
    if path.exists():
        raise AuthorityExistsError(
            f"{path} already exists; refusing to overwrite an authority's keys (every record "
            "encrypted under them would become unreadable)"
        )
    mpk, msk = fame.setup()
    signer = Account.create()
    mpk_bytes = dump_master_public_key(mpk)
    doc = {
        "v": 1,
        "kind": KIND,
        "institution": institution_id,
        "mpk": mpk_bytes,
        "signer": bytes.fromhex(signer.address[2:]),
        "msk": encrypt_master_secret_key(msk, passphrase, log2_n=log2_n),
        "signer_key": encrypt_with_passphrase(
            bytes(signer.key), passphrase, purpose=SIGNER_PURPOSE, log2_n=log2_n
        ),
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuthorityExistsError(f"{path} appeared while initialising; not overwriting") from None
    try:
        os.write(fd, cbor2.dumps(doc, canonical=True))
        os.fsync(fd)
    finally:
        os.close(fd)
    return InstitutionAuthority(
        institution_id=institution_id, mpk=mpk, msk=msk, mpk_bytes=mpk_bytes, signer=signer
    )


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AuthorityNotFoundError(
            f"no authority key file at {path}; run `medledger authority init --institution <id> "
            f"--key-file {path}`"
        )
    try:
        doc = cbor2.loads(path.read_bytes())
    except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
        raise AuthorityError(f"{path} is not an authority key file: {exc}") from exc
    if not isinstance(doc, dict) or set(doc) != _FIELDS or doc.get("kind") != KIND:
        raise AuthorityError(f"{path} is not an institution authority key file")
    if doc["v"] != 1:
        raise AuthorityError(f"{path}: unsupported key file version {doc['v']!r}")
    return doc


def public_part(path: Path) -> tuple[int, bytes, str]:
    """``(institution id, mpk bytes, signer address)`` without the passphrase."""
    doc = _read(path)
    return int(doc["institution"]), bytes(doc["mpk"]), "0x" + bytes(doc["signer"]).hex()


def load_key_file(path: Path, passphrase: str) -> InstitutionAuthority:
    """Open the key file; checks the key pair and the signer before serving anything."""
    doc = _read(path)
    try:
        mpk = load_master_public_key(doc["mpk"])
        msk = decrypt_master_secret_key(doc["msk"], passphrase)
        signer_key = decrypt_with_passphrase(doc["signer_key"], passphrase, purpose=SIGNER_PURPOSE)
    except WrongPassphraseError as exc:
        raise AuthorityPassphraseError(f"cannot open {path}: {exc}") from exc
    except CryptoError as exc:
        raise AuthorityError(f"{path} holds an unreadable key: {exc}") from exc
    signer = Account.from_key(signer_key)
    if bytes.fromhex(signer.address[2:]) != doc["signer"]:
        raise AuthorityKeyMismatchError(f"{path}: the signer key is not the recorded account")
    probe = "uid:key-authority-self-check"
    ciphertext, element = fame.encrypt(mpk, probe)
    if fame.decrypt(fame.keygen(msk, [probe]), ciphertext) != element:
        raise AuthorityKeyMismatchError(f"{path}: mpk and msk are not one key pair")
    return InstitutionAuthority(
        institution_id=int(doc["institution"]),
        mpk=mpk,
        msk=msk,
        mpk_bytes=bytes(doc["mpk"]),
        signer=signer,
    )
