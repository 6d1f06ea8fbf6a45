"""BLS12-381 helpers for FAME over ``pymcl``: encodings, validation, hashing, fast products.

Encodings are mcl's compressed ones (G1 48 bytes, G2 96 bytes: x little-endian, the top bit
of the last byte is y's sign; GT 576 bytes: the twelve Fp coefficients). Decoding is strict:
exact length, the bytes must be the canonical encoding of the decoded element (re-encoding
gives them back), the point must lie on the curve and in the order-``r`` subgroup, and it
must not be the identity (an honest key or ciphertext holds the identity with probability
``1/r``; refusing it closes degenerate-input attacks). mcl checks curve and subgroup
membership while deserialising when its ``verifyOrder`` switch is on (pymcl's default);
this module checks at import that it is (a known on-curve point outside the subgroup must be
refused) and refuses to load otherwise.

Speed: ``pymcl`` exposes single pairings only, each with its own final exponentiation. mcl's
C API (exported by the same extension module, sharing its initialised curve) has
``millerLoopVec`` + ``finalExp`` (a product of pairings with one final exponentiation —
FAME's six-pairing decryption costs about a third of six separate pairings), ``mulVec``
(multi-scalar multiplication) and ``GT isValid``. They are reached with ``ctypes`` on the
objects' storage: a pybind11 instance keeps a pointer to its C++ value right after the
Python object header. An import-time self-test compares every native routine against plain
``pymcl`` on fixed inputs; on any mismatch (another pymcl build or layout) the native path is
disabled and the same results are computed with ``pymcl`` alone, just slower. Setting
``MEDLEDGER_FAME_NO_NATIVE=1`` forces the plain path.

Hash to G1 (the random oracle ``H`` of FAME): RFC 9380 ``hash_to_curve``,
suite ``BLS12381G1_XMD:SHA-256_SSWU_RO_`` (random-oracle encoding: two SSWU maps added,
cofactor cleared), with the domain separation tag :data:`HASH_DST`. mcl implements it but
pymcl leaves mcl in its legacy map-to mode, whose input is a 256-bit SHA-256 value — not a
uniform field element, so not a random oracle onto G1. On import this module switches mcl
(process-wide; nothing else in MedLedger hashes to curves) to the RFC 9380 mode and sets the
DST through mcl's C API, and checks the switch against RFC 9380's test vector (Appendix J.9.1).
The message is ``tag || fields``, every field length-prefixed or fixed-width, so
``H(y l t)`` for an attribute ``y`` and ``H(0 j l t)`` for a column ``j`` never collide.
Outputs are cached (LRU): the hash is a pure function and costs about two scalar
multiplications.
"""

from __future__ import annotations

import ctypes
import os
import secrets
from collections.abc import Sequence
from functools import lru_cache

import pymcl
from pymcl import G1, G2, GT, Fr

from crypto.errors import GroupElementError

G1_BYTES = 48
G2_BYTES = 96
GT_BYTES = 576
FR_BYTES = 32
GROUP_ORDER: int = pymcl.r
HASH_DST = b"MEDLEDGER-FAME-V1-H_BLS12381G1_XMD:SHA-256_SSWU_RO_"
"""RFC 9380 domain separation tag of FAME's random oracle: application, version, suite."""
_MCL_MAP_TO_MODE_HASH_TO_CURVE = 5
_RFC9380_DST = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_"
_RFC9380_ABC = (  # hash_to_curve("abc") under _RFC9380_DST, RFC 9380 Appendix J.9.1
    0x03567BC5EF9C690C2AB2ECDF6A96EF1C139CC0B2F284DCA0A9A7943388A49A3AEE664BA5379A7655D3C68900BE2F6903,
    0x0B9C15F3FE6E5CF4211F346271D7B01C8F3B28BE689C8429C85B67AF215533311F0B8DFAAA154FA6B88176C229F2885D,
)

_G1_ALIGNED = 144  # sizeof(mclBnG1): three Fp coordinates of six 64-bit limbs
_G2_ALIGNED = 288
_GT_ALIGNED = 576
_FR_ALIGNED = 32

# A point on E(Fp): y^2 = x^3 + 4 with x = 4, whose order does not divide r (the cofactor
# part is non-trivial). Used to check that mcl refuses points outside the subgroup.
_OFF_SUBGROUP_G1 = bytes([4]) + bytes(47)


# --- scalars ---------------------------------------------------------------------------


def fr_from_int(value: int) -> Fr:
    """``value mod r`` as a field element (pymcl's int constructor takes int64 only)."""
    return Fr(str(value % GROUP_ORDER))


def fr_to_int(value: Fr) -> int:
    return int(str(value))


def fr_to_bytes(value: Fr) -> bytes:
    """32 bytes, big-endian, canonical (< r)."""
    return fr_to_int(value).to_bytes(FR_BYTES, "big")


def fr_from_bytes(data: bytes) -> Fr:
    if not isinstance(data, bytes) or len(data) != FR_BYTES:
        raise GroupElementError(f"a scalar must be {FR_BYTES} bytes")
    value = int.from_bytes(data, "big")
    if value >= GROUP_ORDER:
        raise GroupElementError("scalar is not reduced modulo the group order r")
    return fr_from_int(value)


def random_fr(*, nonzero: bool = False) -> Fr:
    """A uniform scalar from the OS CSPRNG (``secrets``), not from a library-internal RNG."""
    low = 1 if nonzero else 0
    return fr_from_int(low + secrets.randbelow(GROUP_ORDER - low))


# --- native mcl routines (ctypes), with a self-tested fallback --------------------------


class _Native:
    """mcl's C API on pymcl's objects; constructed only if the self-test passes."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(pymcl._pymcl.__file__)
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        lib.mclBn_millerLoopVec.argtypes = [vp, vp, vp, sz]
        lib.mclBn_millerLoopVec.restype = None
        lib.mclBn_finalExp.argtypes = [vp, vp]
        lib.mclBn_finalExp.restype = None
        lib.mclBnG1_mulVec.argtypes = [vp, vp, vp, sz]
        lib.mclBnG1_mulVec.restype = None
        lib.mclBnGT_isValid.argtypes = [vp]
        lib.mclBnGT_isValid.restype = ctypes.c_int
        lib.mclBnG1_isValidOrder.argtypes = [vp]
        lib.mclBnG1_isValidOrder.restype = ctypes.c_int
        lib.mclBnG1_serialize.argtypes = [vp, sz, vp]
        lib.mclBnG1_serialize.restype = sz
        lib.mclBnG2_serialize.argtypes = [vp, sz, vp]
        lib.mclBnG2_serialize.restype = sz
        self.lib = lib

    @staticmethod
    def address(obj: object) -> int:
        """Address of the C++ value behind a pybind11 instance (first word after the header)."""
        return ctypes.c_void_p.from_address(id(obj) + object.__basicsize__).value or 0

    def multi_pairing(self, ps: Sequence[G1], qs: Sequence[G2]) -> GT:
        n = len(ps)
        a = ctypes.create_string_buffer(_G1_ALIGNED * n)
        b = ctypes.create_string_buffer(_G2_ALIGNED * n)
        base_a, base_b = ctypes.addressof(a), ctypes.addressof(b)
        for i in range(n):
            ctypes.memmove(base_a + i * _G1_ALIGNED, self.address(ps[i]), _G1_ALIGNED)
            ctypes.memmove(base_b + i * _G2_ALIGNED, self.address(qs[i]), _G2_ALIGNED)
        out = GT()
        target = self.address(out)
        self.lib.mclBn_millerLoopVec(target, base_a, base_b, n)
        self.lib.mclBn_finalExp(target, target)
        return out

    def msm(self, points: Sequence[G1], scalars: Sequence[Fr]) -> G1:
        n = len(points)
        a = ctypes.create_string_buffer(_G1_ALIGNED * n)
        b = ctypes.create_string_buffer(_FR_ALIGNED * n)
        base_a, base_b = ctypes.addressof(a), ctypes.addressof(b)
        for i in range(n):
            ctypes.memmove(base_a + i * _G1_ALIGNED, self.address(points[i]), _G1_ALIGNED)
            ctypes.memmove(base_b + i * _FR_ALIGNED, self.address(scalars[i]), _FR_ALIGNED)
        out = G1()
        self.lib.mclBnG1_mulVec(self.address(out), base_a, base_b, n)
        return out

    def gt_is_valid(self, element: GT) -> bool:
        return bool(self.lib.mclBnGT_isValid(self.address(element)))

    def self_test(self) -> bool:
        buf = ctypes.create_string_buffer(G2_BYTES)
        if self.lib.mclBnG1_serialize(buf, G1_BYTES, self.address(pymcl.g1)) != G1_BYTES:
            return False
        if buf.raw[:G1_BYTES] != pymcl.g1.serialize():
            return False
        if self.lib.mclBnG2_serialize(buf, G2_BYTES, self.address(pymcl.g2)) != G2_BYTES:
            return False
        if buf.raw != pymcl.g2.serialize():
            return False
        scalars = [fr_from_int(x) for x in (3, 5, 7, 11, GROUP_ORDER - 2)]
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
        return self.gt_is_valid(expected) and not self.gt_is_valid(GT(False))


def _load_native() -> _Native | None:
    if os.environ.get("MEDLEDGER_FAME_NO_NATIVE"):
        return None
    try:
        native = _Native()
        return native if native.self_test() else None
    except (OSError, AttributeError, ValueError):
        return None


_NATIVE = _load_native()


def native_enabled() -> bool:
    """Whether the mcl C routines passed the self-test (benchmarks report it)."""
    return _NATIVE is not None


def _mcl_checks_subgroup() -> bool:
    try:
        G1.deserialize(_OFF_SUBGROUP_G1)
    except ValueError:
        return True
    return False


if not _mcl_checks_subgroup():  # pragma: no cover - depends on the pymcl build
    raise ImportError(
        "this pymcl build deserialises points outside the prime-order subgroup; "
        "crypto.groups refuses to run on it"
    )


# --- products ---------------------------------------------------------------------------


def pairing_product(ps: Sequence[G1], qs: Sequence[G2]) -> GT:
    """``Π e(ps[i], qs[i])`` with a single final exponentiation when available."""
    if _NATIVE is not None:
        return _NATIVE.multi_pairing(ps, qs)
    result = GT()
    for p, q in zip(ps, qs, strict=True):
        result = result * pymcl.pairing(p, q)
    return result


def g1_msm(points: Sequence[G1], scalars: Sequence[Fr]) -> G1:
    """``Σ scalars[i] · points[i]`` (multi-scalar multiplication)."""
    if _NATIVE is not None:
        return _NATIVE.msm(points, scalars)
    result = G1()
    for p, s in zip(points, scalars, strict=True):
        result = result + p * s
    return result


# --- encodings --------------------------------------------------------------------------


def g1_to_bytes(element: G1) -> bytes:
    return element.serialize()


def g2_to_bytes(element: G2) -> bytes:
    return element.serialize()


def gt_to_bytes(element: GT) -> bytes:
    """The canonical 576-byte encoding of a GT element (input to the envelope's KDF)."""
    return element.serialize()


def _decode_point(data: object, cls: type[G1] | type[G2], size: int, name: str) -> G1 | G2:
    if not isinstance(data, bytes):
        raise GroupElementError(f"{name} element must be bytes, not {type(data).__name__}")
    if len(data) != size:
        raise GroupElementError(f"{name} element must be {size} bytes, got {len(data)}")
    try:
        point = cls.deserialize(data)
    except ValueError as exc:
        raise GroupElementError(
            f"bytes are not a {name} point on the curve in the prime-order subgroup"
        ) from exc
    if point.serialize() != data:
        raise GroupElementError(f"non-canonical {name} encoding")
    if point.is_zero():
        raise GroupElementError(f"{name} element is the identity")
    return point


def g1_from_bytes(data: object) -> G1:
    """Decode an untrusted G1 point: on the curve, in the order-r subgroup, not the identity."""
    return _decode_point(data, G1, G1_BYTES, "G1")  # type: ignore[return-value]


def g2_from_bytes(data: object) -> G2:
    """Decode an untrusted G2 point: on the twist, in the order-r subgroup, not the identity."""
    return _decode_point(data, G2, G2_BYTES, "G2")  # type: ignore[return-value]


def gt_is_valid(element: GT) -> bool:
    """Membership in the order-r subgroup of Fp12* (``x^r = 1``, and ``x ≠ 0``)."""
    if _NATIVE is not None:
        return _NATIVE.gt_is_valid(element)
    return not element.is_zero() and (element ** Fr(-1)) * element == GT()


def gt_from_bytes(data: object) -> GT:
    """Decode an untrusted GT element and check that it lies in the order-r subgroup."""
    if not isinstance(data, bytes):
        raise GroupElementError(f"GT element must be bytes, not {type(data).__name__}")
    if len(data) != GT_BYTES:
        raise GroupElementError(f"GT element must be {GT_BYTES} bytes, got {len(data)}")
    try:
        element = GT.deserialize(data)
    except ValueError as exc:
        raise GroupElementError("bytes are not an element of Fp12") from exc
    if element.serialize() != data:
        raise GroupElementError("non-canonical GT encoding")
    if not gt_is_valid(element):
        raise GroupElementError("element is not in the order-r subgroup GT")
    return element


# --- hashing ----------------------------------------------------------------------------


def _mcl_library() -> ctypes.CDLL:
    lib = ctypes.CDLL(pymcl._pymcl.__file__)
    lib.mclBn_setMapToMode.argtypes = [ctypes.c_int]
    lib.mclBn_setMapToMode.restype = ctypes.c_int
    lib.mclBnG1_setDst.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.mclBnG1_setDst.restype = ctypes.c_int
    return lib


def _set_hash_dst(dst: bytes) -> None:
    """Select RFC 9380 hashing with ``dst`` in mcl (plain C calls, no object pointers)."""
    lib = _mcl_library()
    if lib.mclBn_setMapToMode(_MCL_MAP_TO_MODE_HASH_TO_CURVE) != 0:
        raise ImportError("mcl refused the RFC 9380 hash-to-curve mode")
    if lib.mclBnG1_setDst(dst, len(dst)) != 0:
        raise ImportError("mcl refused the hash-to-curve domain separation tag")


def _check_rfc9380() -> None:
    _set_hash_dst(_RFC9380_DST)
    try:
        _, x, y = str(G1.hash(b"abc")).split()
    finally:
        _set_hash_dst(HASH_DST)
    if (int(x), int(y)) != _RFC9380_ABC:
        raise ImportError("mcl's hash_to_curve does not match RFC 9380's test vector")


_check_rfc9380()


@lru_cache(maxsize=16384)
def hash_attribute(attribute: str, ell: int, t: int) -> G1:
    """FAME's ``H(y l t)`` for attribute ``y``; ``ell`` is the paper's l (1..3), ``t`` in 1..2."""
    encoded = attribute.encode("utf-8")
    message = b"\x01" + len(encoded).to_bytes(4, "big") + encoded + bytes((ell, t))
    return G1.hash(message)


@lru_cache(maxsize=16384)
def hash_column(j: int, ell: int, t: int) -> G1:
    """FAME's ``H(0 j l t)`` for a span-program column ``j`` (1-based, as in the paper)."""
    message = b"\x00" + j.to_bytes(4, "big") + bytes((ell, t))
    return G1.hash(message)
