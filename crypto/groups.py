"""BLS12-381 helpers for FAME over ``pymcl``: encodings, validation, hashing, fast products.

Encodings are mcl's compressed ones (G1 48 bytes, G2 96 bytes: x little-endian, the top bit
of the last byte is y's sign; GT 576 bytes: the twelve Fp coefficients). Decoding is strict:
exact length, the bytes must be the canonical encoding of the decoded element (re-encoding
gives them back), the point must lie on the curve and in the order-``r`` subgroup, and it
must not be the identity (an honest key or ciphertext holds the identity with probability
``1/r``; refusing it closes degenerate-input attacks). mcl checks curve and subgroup
membership while deserialising when its ``verifyOrder`` switches are on (pymcl's default);
GT membership (``x^r = 1``) is checked here. At import this module probes every one of these
checks with an element that must be refused (a G1 and a G2 point outside the subgroup, a
cyclotomic Fp12 element outside GT, zero) and refuses to load if any is accepted.

Speed: pairing products (one final exponentiation), multi-scalar multiplication and the GT
check run through mcl's C API when :mod:`crypto.groups_native`'s self-test passes, and through
plain ``pymcl`` otherwise; both paths refuse arguments of the wrong group, type or count with
:class:`crypto.errors.GroupArgumentError` before any native code reads memory.

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
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Protocol

import pymcl
from pymcl import G1, G2, GT, Fr

from crypto.errors import GroupElementError
from crypto.groups_native import (
    CYCLOTOMIC_NOT_GT,
    OFF_SUBGROUP_G1,
    OFF_SUBGROUP_G2,
    check_element,
    check_elements,
    check_same_length,
    load_native,
)

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


class Randomness(Protocol):
    """Fixed draws in place of the OS CSPRNG, for reproducible test vectors only
    (``scripts/export_envelope_v3.py``): an encryption given none uses :func:`random_fr` and
    ``os.urandom``, as every production caller does."""

    def random_bytes(self, n: int) -> bytes: ...

    def random_fr(self, *, nonzero: bool = False) -> Fr: ...


# --- native mcl routines (crypto.groups_native), with a self-tested fallback -------------

_NATIVE = load_native()


def native_enabled() -> bool:
    """Whether the mcl C routines passed the self-test (benchmarks report it)."""
    return _NATIVE is not None


@contextmanager
def plain_pymcl() -> Iterator[None]:
    """Compute with plain pymcl inside the block, as without the native routines: the tests
    check that both paths refuse bad arguments with the same errors. Process-wide and not
    thread-safe; ``MEDLEDGER_FAME_NO_NATIVE=1`` is the way for a whole process."""
    global _NATIVE
    saved, _NATIVE = _NATIVE, None
    try:
        yield
    finally:
        _NATIVE = saved


# --- products ---------------------------------------------------------------------------


def pairing_product(ps: Sequence[G1], qs: Sequence[G2]) -> GT:
    """``Π e(ps[i], qs[i])`` with a single final exponentiation when available.

    Raises :class:`crypto.errors.GroupArgumentError` unless ``ps`` holds G1 and ``qs`` G2
    elements (lists or tuples of the same length), whichever path computes it."""
    if _NATIVE is not None:
        return _NATIVE.multi_pairing(ps, qs)
    check_elements(ps, G1, "ps")
    check_elements(qs, G2, "qs")
    check_same_length(ps, qs, "ps and qs")
    result = GT()
    for p, q in zip(ps, qs, strict=True):
        result = result * pymcl.pairing(p, q)
    return result


def g1_msm(points: Sequence[G1], scalars: Sequence[Fr]) -> G1:
    """``Σ scalars[i] · points[i]`` (multi-scalar multiplication).

    Raises :class:`crypto.errors.GroupArgumentError` unless ``points`` holds G1 elements and
    ``scalars`` Fr elements (lists or tuples of the same length)."""
    if _NATIVE is not None:
        return _NATIVE.msm(points, scalars)
    check_elements(points, G1, "points")
    check_elements(scalars, Fr, "scalars")
    check_same_length(points, scalars, "points and scalars")
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
    check_element(element, GT, "element")
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


# --- import-time membership probes -------------------------------------------------------


def _membership_probe_failures(
    *, g1: type = G1, g2: type = G2, gt_valid: Callable[[GT], bool] = gt_is_valid
) -> list[str]:
    """What the decoders would wrongly accept on this pymcl build (empty when all is well).

    mcl checks subgroup membership while deserialising G1 and G2 points only when its
    ``verifyOrder`` switches are on (pymcl's default), and GT membership is ours to test:
    each probe is an element that must be refused (see :mod:`crypto.groups_native`). The
    keywords are the decoders and the GT check probed, pymcl's and ours by default; the tests
    pass lax ones to see that they are named."""
    failures = []
    for name, cls, probe in (("G1", g1, OFF_SUBGROUP_G1), ("G2", g2, OFF_SUBGROUP_G2)):
        try:
            cls.deserialize(probe)
        except ValueError:
            continue
        failures.append(f"a {name} point outside the prime-order subgroup")
    if gt_valid(GT.deserialize(CYCLOTOMIC_NOT_GT)):
        failures.append("a cyclotomic Fp12 element outside GT")
    if gt_valid(GT(False)):
        failures.append("the zero of Fp12")
    if not gt_valid(pymcl.pairing(pymcl.g1, pymcl.g2)):
        failures.append("(the other way round) e(g, h) refused as a GT element")
    return failures


def _require_membership_checks(**probed: Any) -> None:
    """Refuse to import on a build whose decoders accept a probe (``probed``: as for
    :func:`_membership_probe_failures`)."""
    failures = _membership_probe_failures(**probed)
    if failures:
        raise ImportError(
            "this pymcl build accepts " + "; ".join(failures) + ": crypto.groups refuses to run"
        )


_require_membership_checks()


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
