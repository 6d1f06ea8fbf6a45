"""The group, generators, hashes and polynomial arithmetic shared by TDH2 and the DKG.

Group: ``G = G1`` of BLS12-381 (prime order ``q = r``), used as a plain discrete-log group
(no pairing is needed: TDH2 rests on DDH in ``G``, and DDH is believed hard in G1 of a
Type-3 pairing, the SXDH setting). Elements are encoded and decoded by :mod:`crypto.groups`
(48-byte compressed points; decoding checks curve, subgroup, canonical form and refuses the
identity), so every point read from untrusted bytes here goes through that check.

Generators (the paper's ``g`` and ``ḡ`` of TDH2, and Pedersen's second generator ``h`` of
the DKG): ``g`` is mcl's standard G1 generator; ``ḡ`` and ``h`` are RFC 9380 hashes to G1 of
fixed tags (:func:`crypto.groups` sets mcl's hash to the random-oracle encoding), so nobody
knows ``log_g ḡ`` or ``log_g h``, which TDH2's proof of knowledge and Pedersen's hiding need.
The messages start with byte ``0x02``, which FAME's ``H`` (prefix ``0x00`` / ``0x01``) never
uses, so the three hashes cannot collide with FAME's.

Hashes to ``Z_q`` (TDH2's ``H_2`` and ``H_4``): SHA-512 over a domain tag and length-prefixed
fields, reduced mod ``q`` (statistical distance from uniform about ``2^-257``): random oracles
in the proofs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import pymcl
from pymcl import G1, Fr

import crypto.groups  # noqa: F401 - sets mcl's RFC 9380 hash mode before the generators
from crypto.errors import DkgError, ThresholdFormatError
from crypto.groups import (
    FR_BYTES,
    G1_BYTES,
    GROUP_ORDER,
    fr_from_bytes,
    fr_from_int,
    fr_to_bytes,
    g1_from_bytes,
    g1_msm,
    g1_to_bytes,
    random_fr,
)

__all__ = [
    "FR_BYTES",
    "G1_BYTES",
    "GBAR",
    "GROUP_ORDER",
    "H_PEDERSEN",
    "MAX_PARTIES",
    "G",
    "eval_poly",
    "feldman_eval",
    "fr_from_bytes",
    "fr_from_int",
    "fr_to_bytes",
    "g1_from_bytes",
    "g1_msm",
    "g1_to_bytes",
    "hash_to_scalar",
    "lagrange_at_zero",
    "random_fr",
    "random_poly",
]

MAX_PARTIES = 64
"""Most authorities a consortium key may be shared among (indices 1..64)."""

G: G1 = pymcl.g1
"""The paper's ``g``."""
GBAR: G1 = G1.hash(b"\x02MEDLEDGER-TDH2-V1 gbar")
"""TDH2's ``ḡ``: a second generator whose discrete log to ``g`` nobody knows."""
H_PEDERSEN: G1 = G1.hash(b"\x02MEDLEDGER-DKG-V1 pedersen h")
"""GJKR's ``h`` for Pedersen commitments ``g^a h^b``."""


def hash_to_scalar(tag: bytes, parts: Iterable[bytes]) -> Fr:
    """``H(tag, parts…)`` in ``Z_q``: SHA-512 of the tag and each part length-prefixed."""
    digest = hashlib.sha512()
    digest.update(len(tag).to_bytes(2, "big") + tag)
    for part in parts:
        digest.update(len(part).to_bytes(4, "big") + part)
    return fr_from_int(int.from_bytes(digest.digest(), "big"))


def check_index(index: object, n: int | None = None) -> int:
    """An authority index ``i`` in 1..n (1..:data:`MAX_PARTIES` when ``n`` is not given)."""
    upper = MAX_PARTIES if n is None else n
    if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= upper:
        raise ThresholdFormatError(
            f"authority index must be an integer in 1..{upper}, not {index!r}"
        )
    return index


def check_threshold(t: int, n: int) -> None:
    """``1 ≤ t ≤ n ≤`` :data:`MAX_PARTIES`."""
    if not (isinstance(n, int) and isinstance(t, int)) or not 1 <= t <= n <= MAX_PARTIES:
        raise DkgError(f"need 1 <= t <= n <= {MAX_PARTIES}, got t={t!r}, n={n!r}")


def random_poly(degree: int) -> list[Fr]:
    """Coefficients ``a_0 … a_degree`` drawn uniformly from ``Z_q``."""
    return [random_fr() for _ in range(degree + 1)]


def eval_poly(coefficients: Sequence[Fr], x: int) -> Fr:
    """``f(x) = Σ a_k x^k`` (Horner)."""
    point = fr_from_int(x)
    result = Fr()
    for coefficient in reversed(coefficients):
        result = result * point + coefficient
    return result


def feldman_eval(commitments: Sequence[G1], x: int) -> G1:
    """``Π_k C_k^{x^k}``: the commitment to ``f(x)`` from commitments to the coefficients."""
    powers = []
    power = 1
    for _ in commitments:
        powers.append(fr_from_int(power))
        power = power * x % GROUP_ORDER
    return g1_msm(list(commitments), powers)


def lagrange_at_zero(indices: Sequence[int], i: int) -> Fr:
    """``λ_i = Π_{j ≠ i} j / (j − i)`` over the distinct ``indices``: ``f(0) = Σ λ_i f(i)``."""
    numerator = 1
    denominator = 1
    for j in indices:
        if j != i:
            numerator = numerator * j % GROUP_ORDER
            denominator = denominator * (j - i) % GROUP_ORDER
    return fr_from_int(numerator * pow(denominator, -1, GROUP_ORDER))


def decode_points(data: object, count: int, what: str) -> list[G1]:
    """``count`` concatenated 48-byte G1 points, each checked (curve, subgroup, not identity)."""
    if not isinstance(data, bytes) or len(data) != count * G1_BYTES:
        raise ThresholdFormatError(f"{what} must be {count} G1 points ({count * G1_BYTES} bytes)")
    return [g1_from_bytes(data[k : k + G1_BYTES]) for k in range(0, len(data), G1_BYTES)]


def encode_points(points: Iterable[G1]) -> bytes:
    return b"".join(g1_to_bytes(p) for p in points)


def decode_scalar(data: object, what: str) -> Fr:
    if not isinstance(data, bytes) or len(data) != FR_BYTES:
        raise ThresholdFormatError(f"{what} must be a {FR_BYTES}-byte scalar")
    return fr_from_bytes(data)
