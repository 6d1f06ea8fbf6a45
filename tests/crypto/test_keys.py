"""Key files: passphrase boxes, sealed boxes, and CBOR serialisation of FAME keys."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymcl import GT

from crypto import envelope, fame, keys
from crypto.errors import (
    CryptoError,
    DegenerateKeyError,
    FameFormatError,
    KeyFormatError,
    SealError,
    WrongPassphraseError,
    WrongRecipientError,
)
from crypto.fame_types import SCHEME_ID, MasterPublicKey, MasterSecretKey, UserKey
from crypto.groups import gt_to_bytes

FAST = 10  # scrypt log2(n) for tests: the format and checks are the same, only cheaper
PURPOSE = "medledger/test"


def _rewrite(blob: bytes, **changes: object) -> bytes:
    doc = cbor2.loads(blob)
    doc.update(changes)
    return cbor2.dumps(doc, canonical=True)


# --- passphrase boxes ------------------------------------------------------------------------


def test_passphrase_round_trip_and_format() -> None:
    secret = b"master secret key bytes" * 10
    blob = keys.encrypt_with_passphrase(secret, "correct horse", purpose=PURPOSE, log2_n=FAST)
    doc = cbor2.loads(blob)
    assert doc["kind"] == "passphrase-box"
    assert doc["v"] == 1
    assert doc["log2_n"] == FAST
    assert secret not in blob
    assert keys.decrypt_with_passphrase(blob, "correct horse", purpose=PURPOSE) == secret
    assert keys.decrypt_with_passphrase(blob, b"correct horse", purpose=PURPOSE) == secret


def test_default_scrypt_cost_is_the_strong_one() -> None:
    blob = keys.encrypt_with_passphrase(b"x", "pw", purpose=PURPOSE)
    assert cbor2.loads(blob)["log2_n"] == 17


def test_wrong_passphrase_is_a_clear_error() -> None:
    blob = keys.encrypt_with_passphrase(b"secret", "right", purpose=PURPOSE, log2_n=FAST)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        keys.decrypt_with_passphrase(blob, "wrong", purpose=PURPOSE)
    with pytest.raises(CryptoError, match="must not be empty"):
        keys.decrypt_with_passphrase(blob, "", purpose=PURPOSE)


def test_passphrase_box_parameters_are_authenticated() -> None:
    blob = keys.encrypt_with_passphrase(b"secret", "pw", purpose=PURPOSE, log2_n=FAST + 1)
    # lowering the work factor (an attacker making brute force cheaper) breaks the tag
    with pytest.raises(WrongPassphraseError):
        keys.decrypt_with_passphrase(_rewrite(blob, log2_n=FAST), "pw", purpose=PURPOSE)
    salt = cbor2.loads(blob)["salt"]
    with pytest.raises(WrongPassphraseError):
        keys.decrypt_with_passphrase(
            _rewrite(blob, salt=bytes([salt[0] ^ 1]) + salt[1:]), "pw", purpose=PURPOSE
        )
    ct = cbor2.loads(blob)["ct"]
    with pytest.raises(WrongPassphraseError):
        keys.decrypt_with_passphrase(
            _rewrite(blob, ct=ct[:-1] + bytes([ct[-1] ^ 1])), "pw", purpose=PURPOSE
        )


def test_passphrase_box_for_another_purpose_is_refused() -> None:
    blob = keys.encrypt_with_passphrase(b"secret", "pw", purpose="a", log2_n=FAST)
    with pytest.raises(KeyFormatError, match="made for 'a'"):
        keys.decrypt_with_passphrase(blob, "pw", purpose="b")
    with pytest.raises(WrongPassphraseError):  # relabelled: the AD still says "a"
        keys.decrypt_with_passphrase(_rewrite(blob, purpose="b"), "pw", purpose="b")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"v": 2}, "format version 2"),
        ({"log2_n": 40}, r"log2\(n\) must be in"),
        ({"log2_n": 4}, r"log2\(n\) must be in"),
        ({"r": 1000}, "scrypt r must be"),
        ({"salt": b"short"}, "salt must be 16 bytes"),
        ({"kind": "sealed-box"}, "not a passphrase box"),
        ({"extra": 1}, "unexpected"),
    ],
)
def test_malformed_passphrase_boxes(changes: dict[str, object], match: str) -> None:
    blob = keys.encrypt_with_passphrase(b"secret", "pw", purpose=PURPOSE, log2_n=FAST)
    with pytest.raises(KeyFormatError, match=match):
        keys.decrypt_with_passphrase(_rewrite(blob, **changes), "pw", purpose=PURPOSE)


def test_garbage_is_not_a_passphrase_box() -> None:
    with pytest.raises(KeyFormatError, match="not valid CBOR"):
        keys.decrypt_with_passphrase(b"\xff\x00garbage", "pw", purpose=PURPOSE)
    with pytest.raises(KeyFormatError, match="CBOR map"):
        keys.decrypt_with_passphrase(cbor2.dumps([1, 2]), "pw", purpose=PURPOSE)
    with pytest.raises(CryptoError, match=r"log2\(n\)"):
        keys.encrypt_with_passphrase(b"x", "pw", purpose=PURPOSE, log2_n=30)


# --- sealed boxes ----------------------------------------------------------------------------


def test_seal_round_trip() -> None:
    pair = keys.generate_x25519_keypair()
    assert keys.x25519_public_key(pair.private_key) == pair.public_key
    box = keys.seal(b"user key", pair.public_key, purpose=PURPOSE)
    assert b"user key" not in box
    assert keys.open_sealed(box, pair.private_key, purpose=PURPOSE) == b"user key"
    # two seals of the same plaintext differ (fresh ephemeral key)
    assert keys.seal(b"user key", pair.public_key, purpose=PURPOSE) != box


@settings(max_examples=20, deadline=None)
@given(plaintext=st.binary(max_size=2048))
def test_seal_round_trip_property(plaintext: bytes) -> None:
    pair = keys.generate_x25519_keypair()
    box = keys.seal(plaintext, pair.public_key, purpose=PURPOSE)
    assert keys.open_sealed(box, pair.private_key, purpose=PURPOSE) == plaintext


def test_wrong_recipient_is_a_clear_error() -> None:
    alice, mallory = keys.generate_x25519_keypair(), keys.generate_x25519_keypair()
    box = keys.seal(b"user key", alice.public_key, purpose=PURPOSE)
    with pytest.raises(WrongRecipientError, match="sealed for X25519 key"):
        keys.open_sealed(box, mallory.private_key, purpose=PURPOSE)
    # pretending the box was for mallory only moves the failure to authentication
    forged = _rewrite(box, rpk=mallory.public_key)
    with pytest.raises(SealError, match="failed authentication"):
        keys.open_sealed(forged, mallory.private_key, purpose=PURPOSE)


@pytest.mark.parametrize("field", ["ct", "epk"])
def test_tampered_sealed_box_fails(field: str) -> None:
    pair = keys.generate_x25519_keypair()
    box = keys.seal(b"user key material", pair.public_key, purpose=PURPOSE)
    value = cbor2.loads(box)[field]
    flipped = value[:5] + bytes([value[5] ^ 0x04]) + value[6:]
    with pytest.raises(SealError):
        keys.open_sealed(_rewrite(box, **{field: flipped}), pair.private_key, purpose=PURPOSE)


def test_sealed_box_is_bound_to_its_purpose() -> None:
    pair = keys.generate_x25519_keypair()
    box = keys.seal(b"k", pair.public_key, purpose="medledger/user-key")
    with pytest.raises(SealError, match="made for 'medledger/user-key'"):
        keys.open_sealed(box, pair.private_key, purpose="medledger/other")
    relabelled = _rewrite(box, purpose="medledger/other")
    with pytest.raises(SealError, match="failed authentication"):
        keys.open_sealed(relabelled, pair.private_key, purpose="medledger/other")


def test_low_order_and_malformed_recipient_keys_are_refused() -> None:
    with pytest.raises(SealError, match=r"low-order|all-zero"):
        keys.seal(b"k", bytes(32), purpose=PURPOSE)
    with pytest.raises(SealError, match="invalid X25519 public key"):
        keys.seal(b"k", b"\x01" * 31, purpose=PURPOSE)
    pair = keys.generate_x25519_keypair()
    box = keys.seal(b"k", pair.public_key, purpose=PURPOSE)
    with pytest.raises(SealError, match="invalid X25519 private key"):
        keys.open_sealed(box, b"\x01" * 5, purpose=PURPOSE)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"v": 9}, "format version 9"),
        ({"alg": "rsa"}, "not a sealed box"),
        ({"epk": b"x"}, "epk must be 32 bytes"),
        ({"ct": "text"}, "ciphertext must be bytes"),
    ],
)
def test_malformed_sealed_boxes(changes: dict[str, object], match: str) -> None:
    pair = keys.generate_x25519_keypair()
    box = keys.seal(b"k", pair.public_key, purpose=PURPOSE)
    with pytest.raises(SealError, match=match):
        keys.open_sealed(_rewrite(box, **changes), pair.private_key, purpose=PURPOSE)


def test_non_canonical_cbor_is_refused() -> None:
    pair = keys.generate_x25519_keypair()
    box = keys.seal(b"k", pair.public_key, purpose=PURPOSE)
    doc = cbor2.loads(box)
    shuffled = cbor2.dumps(dict(reversed(list(doc.items()))))  # same map, other key order
    assert shuffled != box
    with pytest.raises(SealError, match="canonical"):
        keys.open_sealed(shuffled, pair.private_key, purpose=PURPOSE)


# --- FAME keys ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> tuple[MasterPublicKey, MasterSecretKey, UserKey]:
    mpk, msk = fame.setup()
    return mpk, msk, fame.keygen(msk, ["role:doctor", "org:cd3h", "dept:cardiology"])


def test_fame_key_cbor_round_trips(
    authority: tuple[MasterPublicKey, MasterSecretKey, UserKey],
) -> None:
    mpk, msk, user_key = authority
    mpk_bytes = keys.dump_master_public_key(mpk)
    assert cbor2.loads(mpk_bytes)["kind"] == "mpk"
    assert cbor2.loads(mpk_bytes)["scheme"] == SCHEME_ID
    assert keys.load_master_public_key(mpk_bytes) == mpk
    assert keys.load_master_secret_key(keys.dump_master_secret_key(msk)) == msk
    loaded = keys.load_user_key(keys.dump_user_key(user_key))
    assert loaded == user_key
    assert keys.dump_user_key(loaded) == keys.dump_user_key(user_key)
    # the loaded keys work: encrypt with the loaded mpk, decrypt with the loaded user key
    record, body = envelope.encrypt_bytes(
        b"ECG 12-lead", mpk=keys.load_master_public_key(mpk_bytes), policy="role:doctor"
    )
    assert envelope.decrypt_bytes(record.header_bytes, body, user_key=loaded) == b"ECG 12-lead"


def test_key_kind_and_scheme_are_checked(
    authority: tuple[MasterPublicKey, MasterSecretKey, UserKey],
) -> None:
    mpk, _, user_key = authority
    with pytest.raises(KeyFormatError, match="expected a 'mpk' key, this file holds a 'user-key'"):
        keys.load_master_public_key(keys.dump_user_key(user_key))
    blob = _rewrite(keys.dump_master_public_key(mpk), scheme="bsw07")
    with pytest.raises(KeyFormatError, match="scheme 'bsw07'"):
        keys.load_master_public_key(blob)
    with pytest.raises(KeyFormatError, match="format version 3"):
        keys.load_master_public_key(_rewrite(keys.dump_master_public_key(mpk), v=3))
    with pytest.raises(KeyFormatError, match="unknown key kind"):
        keys.dump_key(mpk, kind="other", scheme=SCHEME_ID)


def test_key_with_a_point_off_the_subgroup_is_refused(
    authority: tuple[MasterPublicKey, MasterSecretKey, UserKey],
) -> None:
    _, _, user_key = authority
    blob = keys.dump_user_key(user_key)
    doc = cbor2.loads(blob)
    sk_0 = list(doc["key"]["sk_0"])
    sk_0[0] = b"\x00" * 95 + b"\x01"
    doc["key"] = {**doc["key"], "sk_0": sk_0}
    with pytest.raises(KeyFormatError, match="invalid user-key key material"):
        keys.load_user_key(cbor2.dumps(doc, canonical=True))
    with pytest.raises(KeyFormatError, match="invalid user-key key material"):
        keys.load_user_key(_rewrite(blob, key={"scheme": SCHEME_ID}))


def test_master_secret_key_at_rest(
    authority: tuple[MasterPublicKey, MasterSecretKey, UserKey],
) -> None:
    _, msk, _ = authority
    blob = keys.encrypt_master_secret_key(msk, "key authority passphrase", log2_n=FAST)
    assert keys.dump_master_secret_key(msk) not in blob
    assert keys.decrypt_master_secret_key(blob, "key authority passphrase") == msk
    with pytest.raises(WrongPassphraseError):
        keys.decrypt_master_secret_key(blob, "key authority passphrase!")
    # a generic passphrase box (other purpose) is not a master secret key
    other = keys.encrypt_with_passphrase(b"x", "pw", purpose="other", log2_n=FAST)
    with pytest.raises(KeyFormatError, match="made for 'other'"):
        keys.decrypt_master_secret_key(other, "pw")


def test_user_key_sealed_to_the_requester(
    authority: tuple[MasterPublicKey, MasterSecretKey, UserKey],
) -> None:
    _, _, user_key = authority
    doctor, stranger = keys.generate_x25519_keypair(), keys.generate_x25519_keypair()
    box = keys.seal_user_key(user_key, doctor.public_key)
    assert keys.open_user_key(box, doctor.private_key) == user_key
    with pytest.raises(WrongRecipientError):
        keys.open_user_key(box, stranger.private_key)
    ct = cbor2.loads(box)["ct"]
    tampered = _rewrite(box, ct=ct[:10] + bytes([ct[10] ^ 1]) + ct[11:])
    with pytest.raises(SealError, match="failed authentication"):
        keys.open_user_key(tampered, doctor.private_key)
    # a box sealed for another purpose is not a user key
    generic = keys.seal(keys.dump_user_key(user_key), doctor.public_key, purpose="x")
    with pytest.raises(SealError, match="made for 'x'"):
        keys.open_user_key(generic, doctor.private_key)


def _mpk_with(mpk: MasterPublicKey, **elements: bytes) -> bytes:
    """The published key file with some of H1, H2, T1, T2 replaced (canonical CBOR)."""
    doc = cbor2.loads(keys.dump_master_public_key(mpk))
    H, T = list(doc["key"]["H"]), list(doc["key"]["T"])
    for name, value in elements.items():
        (H if name[0] == "H" else T)[int(name[1]) - 1] = value
    doc["key"] = {**doc["key"], "H": H, "T": T}
    return cbor2.dumps(doc, canonical=True)


ONE = gt_to_bytes(GT())


@pytest.mark.parametrize(
    ("elements", "message"),
    [
        ({"T1": ONE, "T2": ONE}, "T1 is the identity of GT"),
        ({"T1": ONE}, "T1 is the identity of GT"),
        ({"T2": ONE}, "T2 is the identity of GT"),
        ({"T2": "T1"}, "T1 = T2"),
        ({"H2": "H1"}, "H1 = H2"),
    ],
)
def test_degenerate_master_public_keys_are_refused(
    authority: tuple[MasterPublicKey, MasterSecretKey, UserKey],
    elements: dict[str, object],
    message: str,
) -> None:
    mpk, _, _ = authority
    obj = mpk.to_obj()
    current = {"H1": obj["H"][0], "H2": obj["H"][1], "T1": obj["T"][0], "T2": obj["T"][1]}
    values = {k: current[v] if isinstance(v, str) else v for k, v in elements.items()}
    blob = _mpk_with(mpk, **values)  # type: ignore[arg-type]
    with pytest.raises(KeyFormatError, match=f"invalid mpk key material: .*{message}") as info:
        keys.load_master_public_key(blob)
    assert isinstance(info.value.__cause__, DegenerateKeyError)
    with pytest.raises(DegenerateKeyError, match=message):
        MasterPublicKey.from_obj(cbor2.loads(blob)["key"])
    assert issubclass(DegenerateKeyError, FameFormatError)


def test_why_the_gt_identity_is_refused(
    authority: tuple[MasterPublicKey, MasterSecretKey, UserKey],
) -> None:
    """With T1 = T2 = 1 (what loaded before the check) ct' is the KEM secret itself."""
    mpk, _, _ = authority
    with pytest.raises(DegenerateKeyError, match="T1 is the identity"):
        MasterPublicKey(H1=mpk.H1, H2=mpk.H2, T1=GT(), T2=GT())
    forged = object.__new__(MasterPublicKey)  # bypassing the check, as a decoder once did
    for name, value in (("H1", mpk.H1), ("H2", mpk.H2), ("T1", GT()), ("T2", GT())):
        object.__setattr__(forged, name, value)
    ciphertext, secret = fame.encrypt(forged, "role:doctor")
    assert ciphertext.ct_prime == secret  # anyone reading the header has the data key
    ciphertext, secret = fame.encrypt(mpk, "role:doctor")
    assert ciphertext.ct_prime != secret
