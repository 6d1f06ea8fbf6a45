"""Wallets: Ethereum keystores (eth-account's encrypted JSON, scrypt) in the user's data dir.

A patient signs consents and sign-ins with a wallet, so its private key must never sit on disk
in the clear: each wallet is one Web3 Secret Storage v3 file (the format geth and MetaMask
export) under ``<data_dir>/wallets/<name>.json``, encrypted with the wallet password through
scrypt. The attribute key the key authority issues to a wallet (a FAME user key) is kept beside
it, in ``<name>.userkey``, sealed with the same password (scrypt + AES-256-GCM, the passphrase
box of :mod:`crypto.keys`) so one password opens both.

Files are written to a temporary name with mode 0600 and renamed, so a crash never leaves half
a keystore and other users of the machine cannot read them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import is_address, to_checksum_address

from clients.sdk.errors import WalletError, WalletNotFoundError, WrongPasswordError
from crypto.errors import CryptoError, WrongPassphraseError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from crypto.fame_types import UserKey

# eth-account (about 0.4 s: it loads py_ecc's pairing tables) and the key files' FAME types
# (the pairing library) are imported where a key is made, opened or sealed, not to list
# wallets: `medledger wallet list` and every command's wallet lookup stay cheap.

WALLETS_DIR = "wallets"
USER_KEY_PURPOSE = "medledger/wallet/user-key"
DEFAULT_SCRYPT_LOG2_N = 18  # eth-account's own default (n = 262144), what geth writes too
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Wallet:
    """One keystore file: its name, its (checksummed) address and where it lives."""

    name: str
    address: str
    path: Path

    def keystore(self) -> dict[str, Any]:
        """The encrypted keystore JSON as a dict (still encrypted)."""
        return _read_keystore(self.path)

    def unlock(self, password: str) -> LocalAccount:
        """The account, decrypted with ``password``; :class:`WrongPasswordError` otherwise."""
        return _decrypt(self.keystore(), password, what=f"wallet {self.name!r}")

    @property
    def user_key_path(self) -> Path:
        return self.path.with_suffix(".userkey")


class WalletStore:
    """The wallets of one data directory (``<data_dir>/wallets``)."""

    def __init__(self, data_dir: Path, *, scrypt_log2_n: int = DEFAULT_SCRYPT_LOG2_N) -> None:
        self.data_dir = Path(data_dir)
        self.directory = self.data_dir / WALLETS_DIR
        self.scrypt_log2_n = scrypt_log2_n

    # ------------------------------------------------------------------ creating

    def create(self, name: str, password: str) -> Wallet:
        """A new random account, stored encrypted under ``name`` (refuses a taken name)."""
        from eth_account import Account

        account: LocalAccount = Account.create()
        return self._store(name, account, password)

    def import_key(self, name: str, private_key: str, password: str) -> Wallet:
        """Store an existing private key (hex, with or without 0x) under ``name``."""
        from eth_account import Account

        try:
            account: LocalAccount = Account.from_key(private_key.strip())
        except Exception as exc:  # eth-keys raises several types for a malformed key
            raise WalletError(f"not a valid private key: {type(exc).__name__}") from None
        return self._store(name, account, password)

    def import_keystore(self, name: str, keystore_json: Path | str, password: str) -> Wallet:
        """Import a keystore file (or its JSON text); the password must open it.

        The file is stored as given (not re-encrypted), so its KDF settings are kept."""
        text = str(keystore_json)
        if isinstance(keystore_json, Path) or not text.lstrip().startswith("{"):
            try:
                text = Path(keystore_json).read_text(encoding="utf-8")
            except OSError as exc:
                raise WalletError(f"cannot read keystore {keystore_json}: {exc.strerror}") from None
        keystore = _parse_keystore(text, what="the keystore to import")
        account = _decrypt(keystore, password, what="the keystore to import")
        self._check_new(name, account.address)
        keystore["address"] = account.address[2:].lower()
        path = self._path(name)
        _write_private(path, json.dumps(keystore, indent=2).encode())
        return Wallet(name=name, address=account.address, path=path)

    # ------------------------------------------------------------------ finding

    def list(self) -> list[Wallet]:
        """Every wallet, by name; unreadable files are skipped rather than failing the list."""
        if not self.directory.is_dir():
            return []
        wallets = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                address = _address_of(_read_keystore(path))
            except WalletError:
                continue
            wallets.append(Wallet(name=path.stem, address=address, path=path))
        return wallets

    def get(self, name_or_address: str) -> Wallet:
        """The wallet with this name, or holding this address (any case)."""
        wanted = name_or_address.strip()
        if _NAME_RE.fullmatch(wanted) and self._path(wanted).is_file():
            path = self._path(wanted)
            return Wallet(name=wanted, address=_address_of(_read_keystore(path)), path=path)
        if is_address(wanted):
            for wallet in self.list():
                if wallet.address.lower() == wanted.lower():
                    return wallet
        raise WalletNotFoundError(
            f"no wallet {wanted!r} in {self.directory} (create one or import a key)"
        )

    def export_keystore(self, name: str) -> str:
        """The keystore JSON, still encrypted: what another wallet app imports."""
        return json.dumps(self.get(name).keystore(), indent=2)

    # ------------------------------------------------------------------ attribute keys

    def save_user_key(self, name: str, user_key: UserKey, password: str) -> Path:
        """Keep the wallet's attribute key, encrypted with the wallet password."""
        from crypto.keys import dump_user_key, encrypt_with_passphrase

        wallet = self.get(name)
        wallet.unlock(password)  # one password for both files: refuse any other
        blob = encrypt_with_passphrase(
            dump_user_key(user_key), password, purpose=USER_KEY_PURPOSE, log2_n=self._key_log2_n()
        )
        _write_private(wallet.user_key_path, blob)
        return wallet.user_key_path

    def load_user_key(self, name: str, password: str) -> UserKey:
        """The saved attribute key; :class:`WalletError` when none was saved."""
        from crypto.keys import decrypt_with_passphrase, load_user_key

        wallet = self.get(name)
        try:
            blob = wallet.user_key_path.read_bytes()
        except FileNotFoundError:
            raise WalletError(
                f"wallet {wallet.name!r} has no saved attribute key (fetch one first)"
            ) from None
        try:
            return load_user_key(decrypt_with_passphrase(blob, password, purpose=USER_KEY_PURPOSE))
        except WrongPassphraseError:
            raise WrongPasswordError(f"wrong password for wallet {wallet.name!r}") from None
        except CryptoError as exc:
            raise WalletError(f"the saved attribute key is unreadable: {exc}") from None

    # ------------------------------------------------------------------ internals

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def _key_log2_n(self) -> int:
        # the same cost knob as the keystore, within the bounds crypto.keys accepts
        from crypto.keys import SCRYPT_MAX_LOG2_N, SCRYPT_MIN_LOG2_N

        return max(SCRYPT_MIN_LOG2_N, min(self.scrypt_log2_n, SCRYPT_MAX_LOG2_N))

    def _check_new(self, name: str, address: str) -> None:
        if not _NAME_RE.fullmatch(name):
            raise WalletError(
                f"invalid wallet name {name!r}: letters, digits, '.', '_', '-' (max 64)"
            )
        if self._path(name).exists():
            raise WalletError(f"a wallet named {name!r} already exists")
        for wallet in self.list():
            if wallet.address == address:
                raise WalletError(f"address {address} is already in wallet {wallet.name!r}")

    def _store(self, name: str, account: LocalAccount, password: str) -> Wallet:
        self._check_new(name, account.address)
        if not password:
            raise WalletError("a wallet needs a non-empty password")
        from eth_account import Account

        keystore = Account.encrypt(
            account.key, password, kdf="scrypt", iterations=2**self.scrypt_log2_n
        )
        path = self._path(name)
        _write_private(path, json.dumps(keystore, indent=2).encode())
        return Wallet(name=name, address=account.address, path=path)


def _parse_keystore(text: str, *, what: str) -> dict[str, Any]:
    try:
        keystore = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WalletError(f"{what} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(keystore, dict) or "crypto" not in {k.lower() for k in keystore}:
        raise WalletError(f"{what} is not an Ethereum keystore (no 'crypto' section)")
    return keystore


def _read_keystore(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WalletNotFoundError(f"no wallet file {path}") from None
    except OSError as exc:
        raise WalletError(f"cannot read {path}: {exc.strerror}") from None
    return _parse_keystore(text, what=str(path))


def _address_of(keystore: dict[str, Any]) -> str:
    address = keystore.get("address")
    if not isinstance(address, str) or not is_address(
        address if address.startswith("0x") else "0x" + address
    ):
        raise WalletError("keystore has no valid 'address' field")
    return to_checksum_address(address if address.startswith("0x") else "0x" + address)


def _decrypt(keystore: dict[str, Any], password: str, *, what: str) -> LocalAccount:
    from eth_account import Account

    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        if "MAC" in str(exc) or "mac" in str(exc):
            raise WrongPasswordError(f"wrong password for {what}") from None
        raise WalletError(f"cannot open {what}: {exc}") from None
    except Exception as exc:  # malformed keystores raise KeyError, TypeError, …
        raise WalletError(
            f"cannot open {what}: malformed keystore ({type(exc).__name__})"
        ) from None
    return Account.from_key(key)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` with mode 0600 via a temp file + fsync + rename (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
