"""Deterministic plain-structure encodings of FAME objects and strict decoding of bad input."""

from __future__ import annotations

import copy

import cbor2
import pymcl
import pytest
from hypothesis import given, settings

from crypto.errors import FameFormatError, GroupElementError
from crypto.fame import (
    SCHEME_ID,
    Ciphertext,
    MasterPublicKey,
    MasterSecretKey,
    UserKey,
    decrypt,
    encrypt,
    gt_to_bytes,
    keygen,
    setup,
)
from tests.crypto.policy_strategies import attribute_sets, trees_with_text

# x = 4 gives a point of E(Fp) outside the order-r subgroup (see test_groups.py)
OFF_SUBGROUP_G1 = bytes([4]) + bytes(47)


def _cbor(obj: object) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def _plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, bytes | int | str)


@pytest.fixture(scope="module")
def material() -> dict[str, object]:
    mpk, msk = setup()
    ct, element = encrypt(mpk, "role:doctor and (org:cd3h or 2 of (a:x, b:y, c:z))")
    key = keygen(msk, ["role:doctor", "a:x", "c:z", "uid:0xabc"])
    return {"mpk": mpk, "msk": msk, "ct": ct, "element": element, "key": key}


@pytest.mark.parametrize("name", ["mpk", "msk", "ct", "key"])
def test_round_trip_through_cbor_is_byte_identical(material: dict, name: str) -> None:
    original = material[name]
    obj = original.to_obj()
    assert _plain(obj)
    assert obj["scheme"] == SCHEME_ID
    encoded = _cbor(obj)
    assert _cbor(original.to_obj()) == encoded  # deterministic
    decoded = type(original).from_obj(cbor2.loads(encoded))
    assert decoded == original
    assert _cbor(decoded.to_obj()) == encoded


def test_decoded_objects_still_work(material: dict) -> None:
    key = UserKey.from_obj(cbor2.loads(_cbor(material["key"].to_obj())))
    ct = Ciphertext.from_obj(cbor2.loads(_cbor(material["ct"].to_obj())))
    assert decrypt(key, ct) == material["element"]
    mpk = MasterPublicKey.from_obj(cbor2.loads(_cbor(material["mpk"].to_obj())))
    msk = MasterSecretKey.from_obj(cbor2.loads(_cbor(material["msk"].to_obj())))
    fresh, element = encrypt(mpk, "a:x")
    assert decrypt(keygen(msk, ["a:x"]), fresh) == element
    assert decrypt(keygen(material["msk"], ["a:x"]), fresh) == element


def test_gt_to_bytes_is_canonical(material: dict) -> None:
    element = material["element"]
    data = gt_to_bytes(element)
    assert len(data) == 576
    assert gt_to_bytes(pymcl.GT.deserialize(data)) == data
    assert gt_to_bytes(element * pymcl.GT()) == data
    assert gt_to_bytes(element * element) != data


@settings(max_examples=15, deadline=None)
@given(trees_with_text(), attribute_sets)
def test_random_objects_round_trip(
    material: dict, tree_text: tuple, attributes: frozenset[str]
) -> None:
    _, text = tree_text
    mpk, msk = material["mpk"], material["msk"]
    ct, _ = encrypt(mpk, text)
    key = keygen(msk, attributes)
    for original in (ct, key):
        encoded = _cbor(original.to_obj())
        decoded = type(original).from_obj(cbor2.loads(encoded))
        assert decoded == original
        assert _cbor(decoded.to_obj()) == encoded


def _set(path: tuple, value: object):  # type: ignore[no-untyped-def]
    def change(o: dict) -> None:
        target = o
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value(target[path[-1]]) if callable(value) else value

    return change


def _pop(key: str):  # type: ignore[no-untyped-def]
    return lambda o: o.pop(key)


# (change, expected error, message fragment), by what they break
CIPHERTEXT_MUTATIONS = {
    "scheme": (_set(("scheme",), "cp-abe/bsw"), FameFormatError, "unknown scheme"),
    "type": (_set(("type",), "mpk"), FameFormatError, "expected a FAME ciphertext"),
    "missing field": (_pop("ct_prime"), FameFormatError, "missing"),
    "extra field": (_set(("extra",), b""), FameFormatError, "unexpected"),
    "policy type": (_set(("policy",), b"a:x"), FameFormatError, "must be a string"),
    "policy not canonical": (_set(("policy",), str.upper), FameFormatError, "canonical"),
    "policy invalid": (_set(("policy",), "a:x and"), FameFormatError, "invalid"),
    "row count": (lambda o: o["ct"].pop(), FameFormatError, "one per policy row"),
    "row not a triple": (lambda o: o["ct"][0].pop(), FameFormatError, "3 elements"),
    "ct_0 size": (_set(("ct_0", 0), b"x"), GroupElementError, "96 bytes"),
    "row point off subgroup": (
        _set(("ct", 1, 2), OFF_SUBGROUP_G1),
        GroupElementError,
        "prime-order subgroup",
    ),
    "row point byte flipped": (
        _set(("ct", 0, 0), lambda b: b[:5] + bytes([b[5] ^ 0x55]) + b[6:]),
        GroupElementError,
        "G1",
    ),
    "ct_prime outside GT": (
        _set(("ct_prime",), bytes([2]) + bytes(575)),
        GroupElementError,
        "order-r subgroup",
    ),
    "row point as str": (_set(("ct", 0, 1), "00"), GroupElementError, "must be bytes"),
}


@pytest.mark.parametrize("what", sorted(CIPHERTEXT_MUTATIONS))
def test_ciphertext_decoding_refuses_malformations(material: dict, what: str) -> None:
    change, error, match = CIPHERTEXT_MUTATIONS[what]
    obj = copy.deepcopy(material["ct"].to_obj())
    change(obj)
    with pytest.raises(error, match=match):
        Ciphertext.from_obj(obj)


def test_ciphertext_must_be_a_map(material: dict) -> None:
    with pytest.raises(FameFormatError, match="must be a map"):
        Ciphertext.from_obj([material["ct"].to_obj()])


def test_key_decoding_refuses_malformations(material: dict) -> None:
    obj = material["key"].to_obj()
    bad = copy.deepcopy(obj)
    bad["sk"]["ROLE:doctor"] = bad["sk"].pop("role:doctor")
    with pytest.raises(FameFormatError, match="canonical"):
        UserKey.from_obj(bad)
    bad = copy.deepcopy(obj)
    bad["sk"]["not an attribute"] = bad["sk"].pop("a:x")
    with pytest.raises(FameFormatError, match="invalid key attribute"):
        UserKey.from_obj(bad)
    bad = copy.deepcopy(obj)
    bad["sk_prime"][0] = OFF_SUBGROUP_G1
    with pytest.raises(GroupElementError, match="prime-order subgroup"):
        UserKey.from_obj(bad)
    bad = copy.deepcopy(obj)
    bad["sk_0"][1] = bad["sk_0"][1][:-1]
    with pytest.raises(GroupElementError, match="96 bytes"):
        UserKey.from_obj(bad)
    with pytest.raises(FameFormatError, match="expected a FAME user-key"):
        UserKey.from_obj(material["ct"].to_obj())

    msk = material["msk"].to_obj()
    msk["a"][0] = bytes(32)
    with pytest.raises(FameFormatError, match="zero"):
        MasterSecretKey.from_obj(msk)
    mpk = material["mpk"].to_obj()
    mpk["T"] = mpk["T"][:1]
    with pytest.raises(FameFormatError, match="list of 2"):
        MasterPublicKey.from_obj(mpk)
