"""mcl's C routines on pymcl's objects (ctypes), their argument checks and membership probes.

``pymcl`` exposes single pairings only, each with its own final exponentiation. mcl's C API
(exported by the same extension module, sharing its initialised curve) has
``millerLoopVec`` + ``finalExp`` (a product of pairings sharing one final exponentiation:
Granger & Smart, "On Computing Products of Pairings", eprint 2006/172; FAME's six-pairing
decryption costs about a third of six separate pairings), ``mulVec`` (multi-scalar
multiplication) and ``GT isValid`` (``x^r = 1``; fast membership tests for BLS12 curves are
in Scott, "A note on group membership tests for G1, G2 and GT on BLS pairing-friendly
curves", eprint 2021/1130, which is why a cyclotomic non-member is the probe). They are
reached with ``ctypes`` on the objects' storage: a pybind11 instance keeps a pointer to its
C++ value right after the Python object header, and ``ctypes.memmove`` copies that value.

Memory safety rests on three checks made before any copy (:func:`check_elements`,
:func:`check_same_length`), each raising :class:`crypto.errors.GroupArgumentError`:

- the exact pymcl type of every element: a G2 value is 288 bytes and a G1 value 144, so a
  G2 passed where a G1 is expected would be read in part, and a G1 passed as a G2 would be
  read 144 bytes past its end (and anything else is not a pybind11 instance at all);
- an initialised value: ``G1.__new__(G1)`` has a null value pointer;
- equal list lengths (pairs ``e(P_i, Q_i)``, terms ``s_i · P_i``).

The layout itself (limb count, value sizes) is a precondition of the import-time self-test
(:meth:`_Native.self_test`), which then compares every native routine against plain pymcl on
fixed inputs; on any mismatch the native path is disabled and :mod:`crypto.groups` computes
the same results with pymcl alone. ``MEDLEDGER_FAME_NO_NATIVE=1`` forces the plain path.

The probes (:data:`OFF_SUBGROUP_G1`, :data:`OFF_SUBGROUP_G2`, :data:`CYCLOTOMIC_NOT_GT`) are
elements every membership check must refuse; :mod:`crypto.groups` runs them at import.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from typing import TypeVar

import pymcl
from pymcl import G1, G2, GT, Fr

from crypto.errors import GroupArgumentError

FIELD_MODULUS = int(
    "1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF"
    "6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB",
    16,
)
"""``p``, BLS12-381's base field modulus."""

_OP_UNIT_LIMBS = 6  # 64-bit limbs of an Fp element (381 bits): the layout below assumes it
_G1_ALIGNED = 144  # sizeof(mclBnG1): three Fp coordinates (Jacobian) of six limbs
_G2_ALIGNED = 288  # three Fp2 coordinates
_GT_ALIGNED = 576  # twelve Fp coefficients
_FR_ALIGNED = 32  # four limbs
_SIZES: dict[type, int] = {G1: _G1_ALIGNED, G2: _G2_ALIGNED, GT: _GT_ALIGNED, Fr: _FR_ALIGNED}

OFF_SUBGROUP_G1 = bytes([4]) + bytes(47)
"""mcl's encoding of a point of E(Fp): y² = x³ + 4 with x = 4, whose order does not divide r
(the cofactor part is non-trivial); tests/crypto/test_groups.py re-derives it."""

OFF_SUBGROUP_G2 = bytes([1]) + bytes(47) + bytes([1]) + bytes(47)
"""mcl's encoding of a point of the twist E'(Fp2): y² = x³ + 4(1 + u) with x = 1 + u (y's
real part even), whose order does not divide r."""

CYCLOTOMIC_NOT_GT = bytes.fromhex(
    "010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "48435752d8bfda3278cb4dba7290653d06cdb3a6dfebabac30fa17717821b9f9953f6f2960165675d8510a945ce94f0f"
    "bc4673c19fe253daf27730995817d327ad7220471402e431aeee04d04ef5266dfbfce316ec417fa7d5fd21387377f70e"
    "7944e098f5769538f87efc0689da809312867535399e7eaf07ace4fac9f1ea5465b19fe72bce8c572aaa613bd668ee12"
    "7f90bb69159f13f8d48d3a7159bb43c0076cfbd2f3fa599ddcc5d89dd8d263b2d0e635d8a533261b26c8245b9870580d"
    "4af189d7edd260eb6db86173c6b57da5601b5e41b59552014b1ad104e95632522f6eb7b69678259a4248bc578d7f8911"
    "8f5fbc7e4c627d9717b9dd3a23577fff0c1f45592cf0e2b945deeab69dd0a0cc9b5dd2b1abafd4f39574d600996f8b06"
    "b2cd0bbf480b3766a7df8240a49c75f86eec3137d6b7fc77d978a4d8168e46179e31f39dc864df614e46915881df2a05"
    "1f535581c89d4c523cd72e18d3b12376bcf952f82ea2018f590d222d9ffd587fc240aa06b5ee2547f8a0149d29e2a910"
    "e391c1c3dda09fbaee05efbbf6673d90b8b6c55cc39df3792e60db77629f7cc8fa22498ab6b28f7783d8a9249c8f4c18"
    "6af4e54fde3f8a1a1cf9c593e9bedf1b0d906178b3f05e0e0750ef85e2a6a3da356c30e35ecad666b768c160be7e7e10"
)
"""An Fp12 element of the cyclotomic subgroup (order dividing p⁴ - p² + 1, so unitary too)
outside GT: ``y^(p²+1)`` for ``y = conj(f) / f``, ``f = 2 + 3w``, i.e. the easy part of the
final exponentiation without the hard part. A check that tests only unitarity or cyclotomic
membership accepts it; ``x^r = 1`` does not. tests/crypto/test_groups.py re-derives it."""

_T = TypeVar("_T")


def value_address(obj: object) -> int:
    """Address of the C++ value behind a pybind11 instance (first word after the header).

    Only for objects whose exact type is one of pymcl's classes (every pybind11 instance has
    that word); 0 for an instance made by ``__new__`` without ``__init__``."""
    return ctypes.c_void_p.from_address(id(obj) + object.__basicsize__).value or 0


def check_elements(values: object, cls: type[_T], name: str) -> Sequence[_T]:
    """``values`` as a list or tuple of initialised elements of exactly ``cls``."""
    if not isinstance(values, list | tuple):
        raise GroupArgumentError(
            f"{name} must be a list or tuple of {cls.__name__} elements, "
            f"not {type(values).__name__}"
        )
    for index, value in enumerate(values):
        if type(value) is not cls:
            raise GroupArgumentError(
                f"{name}[{index}] must be a {cls.__name__} element, not {type(value).__name__}"
            )
        if value_address(value) == 0:
            raise GroupArgumentError(
                f"{name}[{index}] is an uninitialised {cls.__name__} (made without __init__)"
            )
    return values


def check_same_length(first: Sequence[object], second: Sequence[object], names: str) -> int:
    if len(first) != len(second):
        raise GroupArgumentError(
            f"{names} must have the same length, got {len(first)} and {len(second)}"
        )
    return len(first)


def check_element(value: object, cls: type[_T], name: str) -> _T:
    check_elements((value,), cls, name)
    return value  # type: ignore[return-value]


class _Native:
    """mcl's C API on pymcl's objects; used only if :meth:`self_test` passes."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(pymcl._pymcl.__file__)
        vp, sz, ci = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        signatures = {
            "mclBn_millerLoopVec": ([vp, vp, vp, sz], None),
            "mclBn_finalExp": ([vp, vp], None),
            "mclBnG1_mulVec": ([vp, vp, vp, sz], None),
            "mclBnGT_isValid": ([vp], ci),
            "mclBnG1_serialize": ([vp, sz, vp], sz),
            "mclBnG2_serialize": ([vp, sz, vp], sz),
            "mclBn_getOpUnitSize": ([], ci),
            "mclBn_getFrByteSize": ([], ci),
            "mclBn_getG1ByteSize": ([], ci),
        }
        for name, (argtypes, restype) in signatures.items():
            function = getattr(lib, name)
            function.argtypes = argtypes
            function.restype = restype
        self.lib = lib

    @staticmethod
    def _pack(values: Sequence[object], cls: type) -> ctypes.Array[ctypes.c_char]:
        """Copy the values' C++ storage into one contiguous array (types checked first)."""
        size = _SIZES[cls]
        buffer = ctypes.create_string_buffer(size * len(values))
        base = ctypes.addressof(buffer)
        for i, value in enumerate(values):
            ctypes.memmove(base + i * size, value_address(value), size)
        return buffer

    def multi_pairing(self, ps: Sequence[G1], qs: Sequence[G2]) -> GT:
        """``Π e(ps[i], qs[i])``: one Miller loop product, one final exponentiation."""
        check_elements(ps, G1, "ps")
        check_elements(qs, G2, "qs")
        n = check_same_length(ps, qs, "ps and qs")
        a, b = self._pack(ps, G1), self._pack(qs, G2)
        out = GT()
        target = value_address(out)
        self.lib.mclBn_millerLoopVec(target, ctypes.addressof(a), ctypes.addressof(b), n)
        self.lib.mclBn_finalExp(target, target)
        return out

    def msm(self, points: Sequence[G1], scalars: Sequence[Fr]) -> G1:
        """``Σ scalars[i] · points[i]``."""
        check_elements(points, G1, "points")
        check_elements(scalars, Fr, "scalars")
        n = check_same_length(points, scalars, "points and scalars")
        a, b = self._pack(points, G1), self._pack(scalars, Fr)
        out = G1()
        self.lib.mclBnG1_mulVec(value_address(out), ctypes.addressof(a), ctypes.addressof(b), n)
        return out

    def gt_is_valid(self, element: GT) -> bool:
        check_element(element, GT, "element")
        return bool(self.lib.mclBnGT_isValid(value_address(element)))

    def layout_matches(self) -> bool:
        """The sizes the copies assume (checked before any copy is made)."""
        lib = self.lib
        return (
            lib.mclBn_getOpUnitSize() == _OP_UNIT_LIMBS
            and lib.mclBn_getFrByteSize() == _FR_ALIGNED
            and lib.mclBn_getG1ByteSize() == 48
        )

    def self_test(self) -> bool:
        """Every routine against plain pymcl on fixed inputs, after the layout precondition."""
        if not self.layout_matches():
            return False
        buf = ctypes.create_string_buffer(96)
        if self.lib.mclBnG1_serialize(buf, 48, value_address(pymcl.g1)) != 48:
            return False
        if buf.raw[:48] != pymcl.g1.serialize():
            return False
        if self.lib.mclBnG2_serialize(buf, 96, value_address(pymcl.g2)) != 96:
            return False
        if buf.raw != pymcl.g2.serialize():
            return False
        scalars = [Fr(str(x % pymcl.r)) for x in (3, 5, 7, 11, pymcl.r - 2)]
        ps = [pymcl.g1 * s for s in scalars]
        qs = [pymcl.g2 * s for s in reversed(scalars)]
        expected = GT()
        for p, q in zip(ps, qs, strict=True):
            expected = expected * pymcl.pairing(p, q)
        if self.multi_pairing(ps, qs) != expected:
            return False
        msm_expected = G1()
        for p, s in zip(ps, scalars, strict=True):
            msm_expected = msm_expected + p * s
        if self.msm(ps, scalars) != msm_expected:
            return False
        return (
            self.gt_is_valid(expected)
            and not self.gt_is_valid(GT(False))
            and not self.gt_is_valid(GT.deserialize(CYCLOTOMIC_NOT_GT))
        )


def load_native(candidate: _Native | None = None) -> _Native | None:
    """The native routines if they pass the self-test, else ``None`` (use plain pymcl).

    ``candidate`` is the binding to self-test (bound to pymcl's own library by default); the
    tests pass one whose library reports another build, which must be refused."""
    if os.environ.get("MEDLEDGER_FAME_NO_NATIVE"):
        return None
    try:
        native = _Native() if candidate is None else candidate
        return native if native.self_test() else None
    except (OSError, AttributeError, ValueError):
        return None
