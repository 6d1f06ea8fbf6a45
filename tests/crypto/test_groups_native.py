"""The native (ctypes) products refuse bad arguments; the import-time membership probes.

Every argument test runs on both paths (the native one the CI's pymcl enables, and the plain
pymcl fallback), because callers must see the same error whichever computes the result. A
wrong-type element reaching the native path would be copied by ``memmove`` with the size of
the expected type: a G1 passed as a G2 is read 144 bytes past its end. These tests pass
without crashing the interpreter only because the checks run before any copy.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

import pymcl
import pytest
from pymcl import G1, G2, GT, Fr

from crypto import groups
from crypto.errors import CryptoError, GroupArgumentError, GroupElementError
from crypto.groups import g1_msm, g2_from_bytes, gt_from_bytes, gt_is_valid, pairing_product
from crypto.groups_native import (
    CYCLOTOMIC_NOT_GT,
    OFF_SUBGROUP_G1,
    OFF_SUBGROUP_G2,
    _Native,
    load_native,
)
from tests.crypto.curve_math import (
    B1,
    B2,
    GROUP_ORDER,
    P,
    ec_mul,
    encode_g1,
    encode_g2,
    point_with_x,
)

g1, g2 = pymcl.g1, pymcl.g2


@pytest.fixture(params=["native", "plain"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    assert groups.native_enabled()  # the fast path must be live on the CI's pymcl
    if request.param == "plain":
        with groups.plain_pymcl():
            assert not groups.native_enabled()
            yield "plain"
        assert groups.native_enabled()  # restored after the block
    else:
        yield "native"


@pytest.mark.usefixtures("path")
@pytest.mark.parametrize(
    ("ps", "qs", "message"),
    [
        ([g2], [g1], r"ps\[0\] must be a G1 element, not G2"),  # swapped groups
        ([g1, g1], [g2, g1], r"qs\[1\] must be a G2 element, not G1"),
        ([g1], [g2, g2], "same length, got 1 and 2"),
        ([g1, g1], [g2], "same length, got 2 and 1"),
        ([g1 * Fr(2)], [g1.serialize()], r"qs\[0\] must be a G2 element, not bytes"),
        ([Fr(3)], [g2], r"ps\[0\] must be a G1 element, not Fr"),
        ([None], [g2], r"ps\[0\] must be a G1 element, not NoneType"),
        ((p for p in [g1]), [g2], "ps must be a list or tuple of G1 elements, not generator"),
        (g1, g2, "ps must be a list or tuple of G1 elements, not G1"),
        ([G1.__new__(G1)], [g2], r"ps\[0\] is an uninitialised G1"),
        ([g1], [G2.__new__(G2)], r"qs\[0\] is an uninitialised G2"),
    ],
)
def test_pairing_product_refuses_bad_arguments(ps: object, qs: object, message: str) -> None:
    with pytest.raises(GroupArgumentError, match=message) as info:
        pairing_product(ps, qs)  # type: ignore[arg-type]
    assert isinstance(info.value, CryptoError)


@pytest.mark.usefixtures("path")
@pytest.mark.parametrize(
    ("points", "scalars", "message"),
    [
        ([g2], [Fr(1)], r"points\[0\] must be a G1 element, not G2"),
        ([g1], [g1], r"scalars\[0\] must be a Fr element, not G1"),
        ([g1], [5], r"scalars\[0\] must be a Fr element, not int"),
        ([g1, g1], [Fr(1)], "same length, got 2 and 1"),
        ([g1], [Fr(1), Fr(2)], "same length, got 1 and 2"),
        ([g1], [Fr.__new__(Fr)], r"scalars\[0\] is an uninitialised Fr"),
        ({g1}, [Fr(1)], "points must be a list or tuple of G1 elements, not set"),
    ],
)
def test_msm_refuses_bad_arguments(points: object, scalars: object, message: str) -> None:
    with pytest.raises(GroupArgumentError, match=message):
        g1_msm(points, scalars)  # type: ignore[arg-type]


@pytest.mark.usefixtures("path")
def test_subclasses_are_not_pymcl_elements() -> None:
    """Exact types only: a subclass could carry any layout (or override serialisation)."""

    class Sneaky(G1):
        pass

    point = Sneaky()
    with pytest.raises(GroupArgumentError, match=r"ps\[0\] must be a G1 element, not Sneaky"):
        pairing_product([point], [g2])


@pytest.mark.usefixtures("path")
def test_gt_check_refuses_other_types() -> None:
    for value, message in (
        (g1, "must be a GT element, not G1"),
        (b"\x01" * 576, "must be a GT element, not bytes"),
        (GT.__new__(GT), "uninitialised GT"),
    ):
        with pytest.raises(GroupArgumentError, match=message):
            gt_is_valid(value)  # type: ignore[arg-type]


@pytest.mark.usefixtures("path")
def test_good_arguments_still_compute_the_same_values() -> None:
    ps = (g1 * Fr(3), g1 * Fr(5))  # tuples are accepted as well as lists
    qs = (g2 * Fr(7), g2)
    expected = pymcl.pairing(g1, g2) ** Fr(26)
    assert pairing_product(ps, qs) == expected
    assert g1_msm(ps, (Fr(2), Fr(1))) == g1 * Fr(11)
    assert pairing_product([], []) == GT()  # the empty product
    assert g1_msm([], []).is_zero()  # the empty sum


def test_native_self_test_checks_the_layout_before_copying(
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # monkeypatch: the environment only
    native = _Native()
    assert native.layout_matches()
    assert native.self_test()

    class OtherBuild:
        """mcl built with 4-limb Fp: the 144-byte copies would be wrong."""

        def __getattr__(self, name: str) -> object:
            return getattr(native.lib, name)

        @staticmethod
        def mclBn_getOpUnitSize() -> int:
            return 4

        @staticmethod
        def mclBn_millerLoopVec(*args: object) -> None:
            raise AssertionError("the self-test must stop before calling native code")

    native.lib = OtherBuild()  # type: ignore[assignment]
    assert not native.layout_matches()
    assert not native.self_test()
    assert load_native(native) is None
    assert load_native() is not None  # this build's own binding passes
    monkeypatch.setenv("MEDLEDGER_FAME_NO_NATIVE", "1")
    assert load_native() is None


# --- the membership probes ------------------------------------------------------------------


def test_g1_probe_is_on_the_curve_outside_the_subgroup() -> None:
    point = point_with_x((4, 0), B1)
    assert point is not None
    assert point[1][1] == 0
    assert ec_mul(point, GROUP_ORDER) is not None
    assert encode_g1(4, False) == OFF_SUBGROUP_G1


def test_g2_probe_is_on_the_twist_outside_the_subgroup() -> None:
    point = point_with_x((1, 1), B2)
    assert point is not None  # x = 1 + u gives a point of E'(Fp2)
    assert ec_mul(point, GROUP_ORDER) is not None  # whose order does not divide r
    assert encode_g2((1, 1), False) == OFF_SUBGROUP_G2
    with pytest.raises(GroupElementError, match="prime-order subgroup"):
        g2_from_bytes(OFF_SUBGROUP_G2)


def test_mcl_refuses_the_g2_probe_only_for_its_order() -> None:
    """With mcl's order check switched off the probe decodes: it is a valid twist point."""
    lib = ctypes.CDLL(pymcl._pymcl.__file__)
    lib.mclBn_verifyOrderG2.argtypes = [ctypes.c_int]
    lib.mclBn_verifyOrderG2(0)
    try:
        point = G2.deserialize(OFF_SUBGROUP_G2)
    finally:
        lib.mclBn_verifyOrderG2(1)
    assert point.serialize() == OFF_SUBGROUP_G2
    with pytest.raises(ValueError, match="Could not deserialize"):
        G2.deserialize(OFF_SUBGROUP_G2)  # and the switch is back on


def _gt_pow(x: GT, exponent: int) -> GT:
    """``x^e`` for any integer ``e`` (pymcl's ``**`` reduces exponents modulo r)."""
    result = GT()
    for bit in bin(exponent)[2:]:
        result = result * result
        if bit == "1":
            result = result * x
    return result


def test_gt_probe_is_cyclotomic_but_outside_gt() -> None:
    f = bytes([2]) + bytes(47) + bytes(48 * 5) + bytes([3]) + bytes(47) + bytes(48 * 5)
    conj = bytes([2]) + bytes(47) + bytes(48 * 5) + (P - 3).to_bytes(48, "little") + bytes(240)
    y = GT.deserialize(conj) / GT.deserialize(f)  # f^(p^6 - 1): unitary
    z = _gt_pow(y, P * P + 1)  # ... ^(p^2 + 1): in the cyclotomic subgroup
    assert z.serialize() == CYCLOTOMIC_NOT_GT
    assert _gt_pow(z, P**4 - P**2 + 1).is_one()  # order divides Φ12(p)
    assert not _gt_pow(z, GROUP_ORDER).is_one()  # but not r


@pytest.mark.usefixtures("path")
def test_gt_probe_and_zero_are_refused_on_both_paths() -> None:
    assert not gt_is_valid(GT.deserialize(CYCLOTOMIC_NOT_GT))
    with pytest.raises(GroupElementError, match="order-r subgroup"):
        gt_from_bytes(CYCLOTOMIC_NOT_GT)
    assert not gt_is_valid(GT(False))
    assert gt_is_valid(pymcl.pairing(g1 * Fr(9), g2))


def test_probes_pass_on_this_build_and_name_what_a_bad_build_accepts() -> None:
    assert groups._membership_probe_failures() == []
    groups._require_membership_checks()

    class LaxG2:
        """A pymcl build whose G2 deserialisation skips the order check."""

        @staticmethod
        def deserialize(data: bytes) -> G2:
            return G2()

    lax = groups._membership_probe_failures(g2=LaxG2)
    assert lax == ["a G2 point outside the prime-order subgroup"]
    with pytest.raises(ImportError, match="G2 point outside the prime-order subgroup"):
        groups._require_membership_checks(g2=LaxG2)

    def unitary(element: GT) -> bool:  # checks unitarity only
        return True

    failures = groups._membership_probe_failures(gt_valid=unitary)
    assert failures == ["a cyclotomic Fp12 element outside GT", "the zero of Fp12"]
    with pytest.raises(ImportError, match="cyclotomic Fp12 element outside GT"):
        groups._require_membership_checks(gt_valid=unitary)
