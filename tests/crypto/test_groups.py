"""BLS12-381 encodings and checks: curve, subgroup, canonical bytes, GT membership, products.

The off-subgroup points are built here from scratch: pick ``x`` with ``x^3 + b`` a square,
take the square root, check with plain-integer curve arithmetic that ``r · P`` is not the
point at infinity, encode ``P`` the way mcl encodes points (x little-endian, y's sign in the
top bit) and show that decoding refuses it — while the generator, encoded the same way by
the same helper, is accepted, which proves the encoding is right and only membership fails.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pymcl
import pytest
from pymcl import G1, G2, GT, Fr

from crypto import groups
from crypto.errors import FameFormatError, GroupElementError
from crypto.groups import (
    GROUP_ORDER,
    GT_BYTES,
    fr_from_bytes,
    fr_to_bytes,
    g1_from_bytes,
    g1_msm,
    g2_from_bytes,
    gt_from_bytes,
    gt_is_valid,
    gt_to_bytes,
    hash_attribute,
    hash_column,
    native_enabled,
    pairing_product,
    random_fr,
)
from tests.crypto.curve_math import (
    B1,
    B2,
    P,
    ec_mul,
    encode_g1,
    encode_g2,
    f2_add,
    f2_mul,
    generator_affine_g1,
    is_fp_square,
    point_with_x,
)


def test_g1_point_outside_the_subgroup_is_refused() -> None:
    gx, gy = generator_affine_g1()
    generator = ((gx, 0), (gy, 0))
    assert ec_mul(generator, GROUP_ORDER) is None  # the helper's arithmetic is right
    assert g1_from_bytes(encode_g1(gx, True)) == pymcl.g1  # and so is its encoding

    x = 1
    while not is_fp_square(x**3 + 4):
        x += 1
    point = point_with_x((x, 0), B1)
    assert point is not None
    assert point[1][1] == 0  # y in Fp: a point of E(Fp), not of the quadratic twist
    assert ec_mul(point, GROUP_ORDER) is not None  # on E(Fp), order does not divide r
    for flag in (False, True):
        with pytest.raises(GroupElementError, match="prime-order subgroup"):
            g1_from_bytes(encode_g1(x, flag))


def test_g2_point_outside_the_subgroup_is_refused() -> None:
    _, x0, x1, y0, y1 = str(pymcl.g2).split()
    generator = ((int(x0), int(x1)), (int(y0), int(y1)))
    gx, gy = generator
    assert f2_mul(gy, gy) == f2_add(f2_mul(f2_mul(gx, gx), gx), B2)  # the twist's equation
    assert ec_mul(generator, GROUP_ORDER) is None
    assert g2_from_bytes(encode_g2(generator[0], True)) == pymcl.g2

    x = 1
    while (point := point_with_x((x, 1), B2)) is None:
        x += 1
    assert ec_mul(point, GROUP_ORDER) is not None  # on the twist, outside the subgroup
    for flag in (False, True):
        with pytest.raises(GroupElementError, match="prime-order subgroup"):
            g2_from_bytes(encode_g2(point[0], flag))


def test_off_curve_and_out_of_range_coordinates_are_refused() -> None:
    x = 1
    while is_fp_square(x**3 + 4):
        x += 1
    with pytest.raises(GroupElementError, match="on the curve"):
        g1_from_bytes(encode_g1(x, False))
    gx, _ = generator_affine_g1()
    with pytest.raises(GroupElementError):
        g1_from_bytes(encode_g1(gx + P, True))  # the same point with x not reduced mod p


def test_lengths_types_identity_and_canonical_bytes() -> None:
    good = (pymcl.g1 * Fr(7)).serialize()
    assert g1_from_bytes(good) == pymcl.g1 * Fr(7)
    with pytest.raises(GroupElementError, match="48 bytes"):
        g1_from_bytes(good + b"\x00")  # mcl alone would ignore trailing bytes
    with pytest.raises(GroupElementError, match="48 bytes"):
        g1_from_bytes(good[:-1])
    with pytest.raises(GroupElementError, match="must be bytes"):
        g1_from_bytes(bytearray(good))
    with pytest.raises(GroupElementError, match="identity"):
        g1_from_bytes(G1().serialize())
    with pytest.raises(GroupElementError, match="identity"):
        g2_from_bytes(G2().serialize())
    with pytest.raises(GroupElementError, match="96 bytes"):
        g2_from_bytes(good)
    assert issubclass(GroupElementError, FameFormatError)


def test_gt_membership_is_checked() -> None:
    element = pymcl.pairing(pymcl.g1 * Fr(3), pymcl.g2)
    data = gt_to_bytes(element)
    assert len(data) == GT_BYTES
    assert gt_from_bytes(data) == element
    assert gt_is_valid(element)
    # a generic Fp12 element (small coefficients) is not in the order-r subgroup
    forged = bytes([2]) + bytes(47) + bytes([3]) + bytes(GT_BYTES - 49)
    assert not gt_is_valid(GT.deserialize(forged))
    with pytest.raises(GroupElementError, match="order-r subgroup"):
        gt_from_bytes(forged)
    with pytest.raises(GroupElementError, match="576 bytes"):
        gt_from_bytes(data[:-1])
    with pytest.raises(GroupElementError, match="order-r subgroup"):
        gt_from_bytes(bytes(GT_BYTES))  # zero


def test_scalars_round_trip_and_must_be_reduced() -> None:
    value = random_fr()
    assert fr_from_bytes(fr_to_bytes(value)) == value
    assert fr_to_bytes(Fr(-1)) == (GROUP_ORDER - 1).to_bytes(32, "big")
    with pytest.raises(GroupElementError, match="not reduced"):
        fr_from_bytes(GROUP_ORDER.to_bytes(32, "big"))
    with pytest.raises(GroupElementError, match="32 bytes"):
        fr_from_bytes(b"\x01")


def test_products_match_plain_pymcl() -> None:
    scalars = [random_fr() for _ in range(6)]
    ps = [pymcl.g1 * s for s in scalars]
    qs = [pymcl.g2 * random_fr() for _ in scalars]
    expected = GT()
    for p, q in zip(ps, qs, strict=True):
        expected = expected * pymcl.pairing(p, q)
    assert pairing_product(ps, qs) == expected
    msm = G1()
    for p, s in zip(ps, scalars, strict=True):
        msm = msm + p * s
    assert g1_msm(ps, scalars) == msm
    assert native_enabled()  # the fast path must be live on the CI's pymcl


def test_hash_is_domain_separated_and_deterministic() -> None:
    outputs = {
        hash_attribute("a:x", 1, 1),
        hash_attribute("a:x", 1, 2),
        hash_attribute("a:x", 2, 1),
        hash_attribute("a:y", 1, 1),
        hash_column(1, 1, 1),
        hash_column(2, 1, 1),
        hash_column(1, 2, 1),
    }
    assert len(outputs) == 7
    assert hash_attribute("a:x", 3, 2) == G1.hash(b"\x01\x00\x00\x00\x03a:x\x03\x02")
    assert hash_column(2, 3, 1) == G1.hash(b"\x00\x00\x00\x00\x02\x03\x01")


def test_hash_is_rfc9380_hash_to_curve_under_our_dst() -> None:
    """Switching the DST to RFC 9380's test DST reproduces its vectors (Appendix J.9.1)."""
    vectors = {
        b"": (
            "052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
            "08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265",
        ),
        b"abcdef0123456789": (
            "11e0b079dea29a68f0383ee94fed1b940995272407e3bb916bbf268c263ddd57a6a27200a784cbc248e84f357ce82d98",
            "03a87ae2caf14e8ee52e51fa2ed8eefe80f02457004ba4d486d6aa1f517c0889501dc7413753f9599b099ebcbbd2d709",
        ),
    }
    ours = G1.hash(b"medledger")
    groups._set_hash_dst(b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_")
    try:
        for message, (x, y) in vectors.items():
            _, px, py = str(G1.hash(message)).split()
            assert (int(px), int(py)) == (int(x, 16), int(y, 16))
        assert G1.hash(b"medledger") != ours  # the DST separates domains
    finally:
        groups._set_hash_dst(groups.HASH_DST)
    assert G1.hash(b"medledger") == ours


def test_plain_fallback_round_trips_in_a_fresh_interpreter() -> None:
    """With the native path disabled, FAME still works (and agrees on what it decrypts)."""
    code = (
        "from crypto.groups import native_enabled\n"
        "from crypto.fame import setup, keygen, encrypt, decrypt\n"
        "assert not native_enabled()\n"
        "mpk, msk = setup()\n"
        "ct, m = encrypt(mpk, '2 of (a:x, b:y, c:z) and d:w')\n"
        "assert decrypt(keygen(msk, ['a:x', 'c:z', 'd:w']), ct) == m\n"
        "print('ok')\n"
    )
    env = dict(os.environ, MEDLEDGER_FAME_NO_NATIVE="1")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
