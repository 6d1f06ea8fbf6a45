"""FAME: fast attribute-based message encryption, ciphertext-policy variant.

Shashank Agrawal and Melissa Chase, "FAME: Fast Attribute-based Message Encryption",
ACM CCS 2017, IACR eprint 2017/807, Section 3 (CP-ABE). Assumption size k = 2: fully secure
under the decisional linear assumption (DLIN, i.e. 2-Lin) in the random-oracle model, on a
Type-III pairing ``e: G × H → G_T``; here BLS12-381 through ``pymcl``, with the paper's ``G``
= G1 (48-byte points, the cheaper group), ``H`` = G2, ``g`` / ``h`` their fixed generators.
Policies are monotone span programs ``(M, ρ)`` (:mod:`crypto.msp`); the random oracle ``H``
is :func:`crypto.groups.hash_attribute` / :func:`crypto.groups.hash_column`.

Notation (multiplicative in the paper, additive for pymcl's G1/G2 here):

- Setup: ``a_1, a_2, b_1, b_2 ← Z_p*``, ``d_1, d_2, d_3 ← Z_p``;
  ``pk = (h, H_1 = h^{a_1}, H_2 = h^{a_2},
  T_1 = e(g,h)^{d_1 a_1 + d_3}, T_2 = e(g,h)^{d_2 a_2 + d_3})``,
  ``msk = (g, h, a_1, a_2, b_1, b_2, g^{d_1}, g^{d_2}, g^{d_3})``.
- KeyGen(msk, S): ``r_1, r_2 ← Z_p``; ``sk_0 = (h^{b_1 r_1}, h^{b_2 r_2}, h^{r_1 + r_2})``;
  for ``y ∈ S``, ``σ_y ← Z_p``, ``t ∈ {1, 2}``:
  ``sk_{y,t} = H(y1t)^{b_1 r_1 / a_t} · H(y2t)^{b_2 r_2 / a_t} · H(y3t)^{(r_1 + r_2) / a_t}
  · g^{σ_y / a_t}``,
  ``sk_{y,3} = g^{-σ_y}``; ``σ' ← Z_p``,
  ``sk'_t = g^{d_t} · H(011t)^{b_1 r_1 / a_t} · H(012t)^{b_2 r_2 / a_t}
  · H(013t)^{(r_1 + r_2) / a_t} · g^{σ' / a_t}``,
  ``sk'_3 = g^{d_3} · g^{-σ'}``.
- Encrypt(pk, (M, ρ), msg): ``s_1, s_2 ← Z_p``; ``ct_0 = (H_1^{s_1}, H_2^{s_2}, h^{s_1 + s_2})``;
  for every row ``i`` and ``l ∈ {1, 2, 3}``:
  ``ct_{i,l} = H(ρ(i) l 1)^{s_1} · H(ρ(i) l 2)^{s_2}
  · Π_j [H(0jl1)^{s_1} · H(0jl2)^{s_2}]^{M_{i,j}}``;
  ``ct' = T_1^{s_1} · T_2^{s_2} · msg``.
- Decrypt: ``γ_i`` with ``Σ_{i ∈ I} γ_i M_i = (1, 0, …, 0)`` over rows whose attribute the key
  holds; ``msg = ct' · Π_l e(Π_i ct_{i,l}^{γ_i}, sk_{0,l})
  / Π_t e(sk'_t · Π_i sk_{ρ(i),t}^{γ_i}, ct_{0,t})``
  — six pairings whatever the policy size, computed as one product with one final
  exponentiation (:func:`crypto.groups.pairing_product`).

Implementation choices for speed, all value-preserving: ``ct_{i,l}`` is computed as
``A^{s_1} · B^{s_2}`` with ``A = H(ρ(i) l 1) · Π_j H(0jl1)^{M_{i,j}}`` (and ``B`` likewise with
``t = 2``), so Lewko–Waters entries in {0, ±1} cost additions, not scalar multiplications;
the ``γ_i = 1`` combinations of and/or policies are additions too; hash outputs are cached.

The message ``msg`` is a uniformly random GT element chosen by :func:`encrypt`, which returns
it: FAME is used as a KEM and the envelope derives its data key from
:func:`crypto.groups.gt_to_bytes` of it. Nothing here authenticates a ciphertext: a forged
or colluding key yields a wrong element, which the envelope's AEAD then rejects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pymcl
from pymcl import G1, G2, GT, Fr

from crypto.errors import FameFormatError, PolicyError, PolicyNotSatisfied
from crypto.fame_types import SCHEME_ID, Ciphertext, MasterPublicKey, MasterSecretKey, UserKey
from crypto.groups import (
    fr_from_int,
    g1_msm,
    gt_to_bytes,
    hash_attribute,
    hash_column,
    pairing_product,
    random_fr,
)
from crypto.msp import GROUP_ORDER, span_program
from crypto.policy import normalize, normalize_attributes

__all__ = [
    "SCHEME_ID",
    "Ciphertext",
    "MasterPublicKey",
    "MasterSecretKey",
    "UserKey",
    "decrypt",
    "encrypt",
    "gt_to_bytes",
    "keygen",
    "pairing_base",
    "setup",
]

g: G1 = pymcl.g1
h: G2 = pymcl.g2
_E_GH: GT = pymcl.pairing(g, h)
_ONE = Fr(1)


def pairing_base() -> GT:
    """``e(g, h)``, the GT base every message ``M = e(g,h)^r`` and every ``T_i`` is a power of.

    Public because encryptors outside Python (the wallet web app) need it as a constant: with
    it, FAME encryption needs no pairing, only G1/G2 scalar multiplications and GT powers."""
    return _E_GH


# --- Setup -------------------------------------------------------------------------------


def _setup(
    *, a1: Fr, a2: Fr, b1: Fr, b2: Fr, d1: Fr, d2: Fr, d3: Fr
) -> tuple[MasterPublicKey, MasterSecretKey]:
    """Setup with explicit secrets, so tests can check the paper's equations against them."""
    mpk = MasterPublicKey(
        H1=h * a1,
        H2=h * a2,
        T1=_E_GH ** (d1 * a1 + d3),
        T2=_E_GH ** (d2 * a2 + d3),
    )
    msk = MasterSecretKey(a1=a1, a2=a2, b1=b1, b2=b2, g_d1=g * d1, g_d2=g * d2, g_d3=g * d3)
    return mpk, msk


def setup() -> tuple[MasterPublicKey, MasterSecretKey]:
    """Generate the authority's key pair (``a``, ``b`` non-zero as the paper requires)."""
    return _setup(
        a1=random_fr(nonzero=True),
        a2=random_fr(nonzero=True),
        b1=random_fr(nonzero=True),
        b2=random_fr(nonzero=True),
        d1=random_fr(),
        d2=random_fr(),
        d3=random_fr(),
    )


# --- KeyGen ------------------------------------------------------------------------------


def _keygen(
    msk: MasterSecretKey,
    attributes: frozenset[str],
    *,
    r1: Fr,
    r2: Fr,
    sigma: Mapping[str, Fr],
    sigma_prime: Fr,
) -> UserKey:
    """KeyGen with explicit randomness (``sigma[y]`` is ``σ_y``), for the equation tests."""
    sk_0 = (h * (msk.b1 * r1), h * (msk.b2 * r2), h * (r1 + r2))
    c = (msk.b1 * r1, msk.b2 * r2, r1 + r2)  # the exponents of sk_0, shared by every H(·l t)
    a_inv = (_ONE / msk.a1, _ONE / msk.a2)
    exponents = [[c[ell] * a_inv[t] for ell in range(3)] for t in range(2)]

    sk: dict[str, tuple[G1, G1, G1]] = {}
    for y in sorted(attributes):
        sigma_y = sigma[y]
        parts = []
        for t in range(2):
            points = [hash_attribute(y, ell + 1, t + 1) for ell in range(3)] + [g]
            parts.append(g1_msm(points, [*exponents[t], sigma_y * a_inv[t]]))
        sk[y] = (parts[0], parts[1], g * -sigma_y)

    prime = []
    for t, g_dt in enumerate((msk.g_d1, msk.g_d2)):
        points = [hash_column(1, ell + 1, t + 1) for ell in range(3)] + [g]
        prime.append(g_dt + g1_msm(points, [*exponents[t], sigma_prime * a_inv[t]]))
    sk_prime = (prime[0], prime[1], msk.g_d3 + g * -sigma_prime)
    return UserKey(sk_0=sk_0, sk=sk, sk_prime=sk_prime)


def keygen(msk: MasterSecretKey, attributes: Iterable[str]) -> UserKey:
    """A user key for an attribute set (case-folded and validated like policy attributes)."""
    held = normalize_attributes(attributes)
    return _keygen(
        msk,
        held,
        r1=random_fr(),
        r2=random_fr(),
        sigma={y: random_fr() for y in held},
        sigma_prime=random_fr(),
    )


# --- Encrypt -----------------------------------------------------------------------------


def _combine(base: G1, row: tuple[tuple[int, int], ...], ell: int, t: int) -> G1:
    """``base · Π_j H(0 j l t)^{M_{i,j}}`` over the row's non-zero entries, with additions
    for the entries ±1."""
    acc = base
    for j, m in row:
        column = hash_column(j + 1, ell, t)
        if m == 1:
            acc = acc + column
        elif m == -1:
            acc = acc - column
        else:
            acc = acc + column * fr_from_int(m)
    return acc


def _encrypt(mpk: MasterPublicKey, policy: str, *, s1: Fr, s2: Fr, msg: GT) -> Ciphertext:
    """Encrypt ``msg`` with explicit randomness ``s_1, s_2`` (for the equation tests)."""
    text = normalize(policy)
    program = span_program(text)
    ct_0 = (mpk.H1 * s1, mpk.H2 * s2, h * (s1 + s2))
    scalars = [s1, s2]
    ct = []
    for label, row in zip(program.labels, program.sparse_rows, strict=True):
        ct_i = []
        for ell in (1, 2, 3):
            A = _combine(hash_attribute(label, ell, 1), row, ell, 1)
            B = _combine(hash_attribute(label, ell, 2), row, ell, 2)
            ct_i.append(g1_msm([A, B], scalars))
        ct.append((ct_i[0], ct_i[1], ct_i[2]))
    ct_prime = (mpk.T1**s1) * (mpk.T2**s2) * msg
    return Ciphertext(policy=text, ct_0=ct_0, ct=tuple(ct), ct_prime=ct_prime)


def encrypt(
    mpk: MasterPublicKey, policy: str, *, scalar: Callable[..., Fr] = random_fr
) -> tuple[Ciphertext, GT]:
    """Encrypt a fresh random GT element under ``policy``; returns ``(ciphertext, element)``.

    ``scalar`` draws the three scalars (the element's exponent, ``s1``, ``s2``), from the OS
    CSPRNG unless fixed vectors are made (:class:`crypto.groups.Randomness`).
    Raises :class:`crypto.errors.PolicyError` for a malformed policy.
    """
    msg = _E_GH ** scalar(nonzero=True)
    return _encrypt(mpk, policy, s1=scalar(), s2=scalar(), msg=msg), msg


# --- Decrypt -----------------------------------------------------------------------------


def _weighted_sum(points: list[G1], weights: list[int]) -> G1:
    """``Σ γ_i · P_i``: additions for ``γ_i = ±1`` (and/or policies), one MSM for the rest."""
    acc = G1()
    rest_points: list[G1] = []
    rest_scalars: list[Fr] = []
    for point, gamma in zip(points, weights, strict=True):
        if gamma == 1:
            acc = acc + point
        elif gamma == GROUP_ORDER - 1:
            acc = acc - point
        else:
            rest_points.append(point)
            rest_scalars.append(fr_from_int(gamma))
    if rest_points:
        acc = acc + g1_msm(rest_points, rest_scalars)
    return acc


def decrypt(user_key: UserKey, ciphertext: Ciphertext) -> GT:
    """Recover the GT element encrypted in ``ciphertext``.

    Raises :class:`crypto.errors.PolicyNotSatisfied` if the key's attributes do not satisfy
    the ciphertext's policy, and :class:`crypto.errors.FameFormatError` if the ciphertext's
    rows do not match its policy.
    """
    try:
        program = span_program(ciphertext.policy)
    except PolicyError as exc:
        raise FameFormatError(f"ciphertext carries an invalid policy: {exc}") from exc
    if len(program) != len(ciphertext.ct):
        raise FameFormatError(
            f"ciphertext has {len(ciphertext.ct)} rows but its policy has {len(program)}"
        )
    gamma = program.solve(user_key.attributes)  # raises PolicyNotSatisfied
    rows = sorted(gamma)
    weights = [gamma[i] for i in rows]
    labels = [program.labels[i] for i in rows]
    missing = [y for y in labels if y not in user_key.sk]
    if missing:  # solve() only uses held attributes; a key whose map lacks them is corrupt
        raise PolicyNotSatisfied(f"user key lacks components for {sorted(set(missing))}")

    ct_sums = [_weighted_sum([ciphertext.ct[i][ell] for i in rows], weights) for ell in range(3)]
    sk_sums = [
        user_key.sk_prime[t] + _weighted_sum([user_key.sk[y][t] for y in labels], weights)
        for t in range(3)
    ]
    # num / den as one product: e(X, Y)^{-1} = e(-X, Y).
    product = pairing_product(
        [*ct_sums, *(-s for s in sk_sums)],
        [*user_key.sk_0, *ciphertext.ct_0],
    )
    return ciphertext.ct_prime * product
