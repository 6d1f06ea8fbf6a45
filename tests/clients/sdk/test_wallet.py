"""Wallets on disk: keystores encrypted with scrypt, attribute keys sealed with the password."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from eth_account import Account

from clients.sdk.errors import WalletError, WalletNotFoundError, WrongPasswordError
from clients.sdk.wallet import WalletStore
from crypto import fame
from crypto.keys import dump_user_key
from crypto.signing import Consent, Domain, recover, sign

LOG2_N = 10  # scrypt cost for tests only; wallets default to eth-account's 2**18
PASSWORD = "病人的密码 correct horse"


@pytest.fixture
def store(tmp_path: Path) -> WalletStore:
    return WalletStore(tmp_path / "data", scrypt_log2_n=LOG2_N)


def test_create_unlock_and_sign(store: WalletStore) -> None:
    wallet = store.create("zhang-wei", PASSWORD)
    assert wallet.path == store.directory / "zhang-wei.json"
    assert stat.S_IMODE(os.stat(wallet.path).st_mode) == 0o600
    keystore = json.loads(wallet.path.read_text())
    assert keystore["crypto"]["kdf"] == "scrypt"
    assert keystore["crypto"]["kdfparams"]["n"] == 2**LOG2_N
    account = wallet.unlock(PASSWORD)
    assert account.address == wallet.address
    assert account.key.hex() not in wallet.path.read_text()
    # the unlocked account signs what the ConsentManager checks
    domain = Domain(chain_id=31337, verifying_contract="0x" + "11" * 20)
    consent = Consent(patient=account.address, expires_at=2**40, nonce=1)
    assert recover(domain, consent, sign(domain, consent, account.key)) == wallet.address

    with pytest.raises(WrongPasswordError, match="wrong password for wallet 'zhang-wei'"):
        wallet.unlock("not the password")
    with pytest.raises(WalletError, match="already exists"):
        store.create("zhang-wei", PASSWORD)
    with pytest.raises(WalletError, match="invalid wallet name"):
        store.create("../escape", PASSWORD)
    assert not (store.data_dir / "escape.json").exists()


def test_list_get_by_name_or_address(store: WalletStore) -> None:
    assert store.list() == []
    b = store.create("b", PASSWORD)
    a = store.import_key("a", Account.create().key.hex(), PASSWORD)
    assert [w.name for w in store.list()] == ["a", "b"]
    assert store.get("b") == b
    assert store.get(a.address.lower()) == a
    with pytest.raises(WalletNotFoundError, match="no wallet 'c'"):
        store.get("c")
    with pytest.raises(WalletError, match="already in wallet 'a'"):
        store.import_key("a2", a.unlock(PASSWORD).key.hex(), PASSWORD)
    with pytest.raises(WalletError, match="not a valid private key"):
        store.import_key("bad", "0x1234", PASSWORD)


def test_keystore_export_import_round_trip(store: WalletStore, tmp_path: Path) -> None:
    original = store.create("li-na", PASSWORD)
    exported = store.export_keystore("li-na")
    assert json.loads(exported)["crypto"]["kdf"] == "scrypt"  # still encrypted

    other = WalletStore(tmp_path / "other", scrypt_log2_n=LOG2_N)
    with pytest.raises(WrongPasswordError):
        other.import_keystore("li-na", exported, "wrong")
    assert other.list() == []  # a refused import writes nothing
    path = tmp_path / "li-na.json"
    path.write_text(exported)
    imported = other.import_keystore("li-na", path, PASSWORD)
    assert imported.address == original.address
    assert imported.unlock(PASSWORD).key == original.unlock(PASSWORD).key

    with pytest.raises(WalletError, match="not JSON"):
        other.import_keystore("x", "{not json", PASSWORD)
    with pytest.raises(WalletError, match="cannot read"):
        other.import_keystore("x", tmp_path / "missing.json", PASSWORD)


def test_user_key_saved_encrypted_and_loaded(store: WalletStore) -> None:
    _mpk, msk = fame.setup()
    user_key = fame.keygen(msk, ["uid:0xabc", "dept:cardiology"])
    wallet = store.create("doctor", PASSWORD)
    with pytest.raises(WalletError, match="no saved attribute key"):
        store.load_user_key("doctor", PASSWORD)
    with pytest.raises(WrongPasswordError):
        store.save_user_key("doctor", user_key, "wrong")
    path = store.save_user_key("doctor", user_key, PASSWORD)
    assert path == wallet.user_key_path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    on_disk = path.read_bytes()
    serialized = dump_user_key(user_key)
    secrets_in_clear = [p.serialize() for p in (*user_key.sk_0, *user_key.sk_prime)]
    secrets_in_clear += [p.serialize() for y in user_key.sk for p in user_key.sk[y]]
    assert all(len(s) >= 48 for s in secrets_in_clear)
    assert [s for s in secrets_in_clear if s in on_disk] == []
    assert b"dept:cardiology" not in on_disk  # not even the attribute names leak

    loaded = store.load_user_key("doctor", PASSWORD)
    assert loaded.attributes == user_key.attributes
    assert dump_user_key(loaded) == serialized
    with pytest.raises(WrongPasswordError, match="wrong password for wallet 'doctor'"):
        store.load_user_key("doctor", "wrong")
