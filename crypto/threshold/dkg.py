"""Distributed key generation for the consortium emergency key (no party learns the secret).

Paper: R. Gennaro, S. Jarecki, H. Krawczyk, T. Rabin, "Secure distributed key generation for
discrete-log based cryptosystems", J. Cryptology 20(1), 2007 (EUROCRYPT 1999); the protocol
"DKG" of Fig. 2 (here: GJKR). Assumption: discrete log is hard in ``G`` (G1 of BLS12-381),
and ``log_g h`` unknown (``h`` is a hash to the curve, :mod:`crypto.threshold.group`);
at most ``t − 1`` of the ``n`` authorities are corrupt and ``t − 1 < n / 2`` for robustness.
It fixes the flaw of Pedersen's (Feldman-based) DKG, where a rushing adversary biases the
public key, by dealing with Pedersen's *unconditionally hiding* commitments first and
revealing the Feldman commitments only once the qualified set is fixed.

Notation (polynomials of degree ``t − 1``: any ``t`` shares open, ``t − 1`` learn nothing):

Generating ``x``:
  1. Each ``P_i`` draws ``f_i(z) = Σ_k a_ik z^k`` and ``f'_i(z) = Σ_k b_ik z^k``, posts
     ``C_ik = g^{a_ik} h^{b_ik}`` (k = 0..t−1) and sends ``s_ij = f_i(j)``,
     ``s'_ij = f'_i(j)`` to ``P_j`` (here: sealed to ``P_j``'s X25519 key on the board,
     :func:`crypto.keys.seal`).
  2. ``P_j`` checks ``g^{s_ij} h^{s'_ij} = Π_k C_ik^{j^k}`` (Eq. 4) and complains against
     ``P_i`` otherwise (:class:`Complaint`).
  3. ``P_i`` answers each complaint by revealing ``s_ij, s'_ij`` (:class:`Reveal`).
  4. ``P_i`` is disqualified when it received ``t`` or more complaints (with degree ``t − 1``
     that many revealed shares would open ``z_i``: the paper's "more than t" for degree t),
     left a complaint unanswered, answered with values that falsify Eq. 4, or never dealt.
     The rest is ``QUAL`` (:func:`qualified`, a public function of the board). An authority
     absent from the board (no transport key, or no deal before the dealing phase closed on
     chain) never dealt, so it is not in ``QUAL``; the sums below run over ``QUAL`` only
     (GJKR's rule), and ``y_j`` stays defined for every ``j`` in 1..n.
  ``x = Σ_{i∈QUAL} z_i`` with ``z_i = a_i0``; ``P_j``'s share ``x_j = Σ_{i∈QUAL} s_ij``.

Extracting ``y = g^x``:
  5. Each ``P_i ∈ QUAL`` posts ``A_ik = g^{a_ik}`` (:class:`FeldmanCommitments`).
  6. ``P_j`` checks ``g^{s_ij} = Π_k A_ik^{j^k}`` (Eq. 5); if not, it posts the Pedersen-valid
     ``s_ij, s'_ij`` as evidence (:class:`FeldmanComplaint`).
  7. For each ``P_i`` with a valid complaint (or no Feldman commitments), the others post
     their ``s_ij, s'_ij`` (:class:`ReconstructionShare`); ``t`` Pedersen-valid ones give
     ``f_i`` by interpolation and so the correct ``A_ik`` (:func:`reconstruct_feldman`).
  ``y = Π_{i∈QUAL} A_i0``, and every verification key ``y_j = g^{x_j} =
  Π_{i∈QUAL} Π_k A_ik^{j^k}`` is public (TDH2's ``h`` and ``h_j``, :func:`public_key`).

Every function of the board's messages is deterministic, so every authority (and anyone
auditing the chain) computes the same ``QUAL`` and the same key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import cbor2
from pymcl import G1, Fr

from crypto.errors import CryptoError, DkgError
from crypto.keys import open_sealed, seal
from crypto.threshold.dkg_messages import (
    Complaint,
    Deal,
    FeldmanCommitments,
    FeldmanComplaint,
    ReconstructionShare,
    Reveal,
)
from crypto.threshold.group import (
    H_PEDERSEN,
    G,
    check_index,
    check_threshold,
    decode_scalar,
    eval_poly,
    feldman_eval,
    fr_from_int,
    fr_to_bytes,
    g1_msm,
    lagrange_at_zero,
    random_poly,
)
from crypto.threshold.keys import EmergencyPublicKey, SecretShare

_SHARE_PURPOSE = "medledger-dkg-share-v1"


# --- public checks (anyone, from the board) ----------------------------------------------------


def pedersen_ok(deal: Deal, j: int, s: Fr, s_prime: Fr) -> bool:
    """Eq. 4: ``g^{s_ij} h^{s'_ij} = Π_k C_ik^{j^k}``."""
    return g1_msm([G, H_PEDERSEN], [s, s_prime]) == feldman_eval(deal.commitments, j)


def feldman_ok(commitments: Sequence[G1], j: int, s: Fr) -> bool:
    """Eq. 5: ``g^{s_ij} = Π_k A_ik^{j^k}``."""
    return G * s == feldman_eval(commitments, j)


def qualified(
    *,
    t: int,
    n: int,
    deals: Mapping[int, Deal],
    complaints: Iterable[Complaint],
    reveals: Iterable[Reveal],
) -> frozenset[int]:
    """``QUAL``: dealers who dealt, got fewer than ``t`` complaints and answered each one
    with a reveal that satisfies Eq. 4 (step 4)."""
    check_threshold(t, n)
    against: dict[int, set[int]] = {}
    for complaint in complaints:
        if complaint.accuser != complaint.accused:
            against.setdefault(complaint.accused, set()).add(complaint.accuser)
    answered: dict[tuple[int, int], Reveal] = {}
    for reveal in reveals:
        answered.setdefault((reveal.dealer, reveal.recipient), reveal)
    qual = set()
    for i, deal in deals.items():
        if deal.dealer != i or len(deal.commitments) != t:
            continue
        accusers = against.get(i, set())
        if len(accusers) >= t:
            continue
        if all(
            (i, j) in answered
            and pedersen_ok(deal, j, answered[(i, j)].s, answered[(i, j)].s_prime)
            for j in accusers
        ):
            qual.add(i)
    return frozenset(qual)


def accused_in_extraction(
    *,
    deals: Mapping[int, Deal],
    qual: frozenset[int],
    feldman: Mapping[int, FeldmanCommitments],
    complaints: Iterable[FeldmanComplaint],
) -> frozenset[int]:
    """Dealers of ``QUAL`` whose ``z_i`` must be reconstructed (step 7): no Feldman
    commitments, or a complaint whose ``s_ij, s'_ij`` pass Eq. 4 and fail Eq. 5."""
    bad = {i for i in qual if i not in feldman}
    for complaint in complaints:
        i = complaint.accused
        if (
            i in qual
            and i in feldman
            and i not in bad
            and pedersen_ok(deals[i], complaint.accuser, complaint.s, complaint.s_prime)
            and not feldman_ok(feldman[i].commitments, complaint.accuser, complaint.s)
        ):
            bad.add(i)
    return frozenset(bad)


def reconstruct_feldman(
    *, t: int, deal: Deal, shares: Iterable[ReconstructionShare]
) -> tuple[G1, ...]:
    """The correct ``A_ik`` of ``deal``'s dealer from ``t`` Pedersen-valid published shares."""
    points: dict[int, Fr] = {}
    for share in shares:
        if (
            share.dealer == deal.dealer
            and share.holder not in points
            and pedersen_ok(deal, share.holder, share.s, share.s_prime)
        ):
            points[share.holder] = share.s
    if len(points) < t:
        raise DkgError(
            f"only {len(points)} valid share(s) to reconstruct dealer {deal.dealer}, need {t}"
        )
    xs = sorted(points)[:t]
    coefficients = _interpolate([(x, points[x]) for x in xs])
    return tuple(G * a for a in coefficients)


def public_key(
    *, key_round: int, t: int, n: int, feldman: Mapping[int, Sequence[G1]]
) -> EmergencyPublicKey:
    """``y = Π A_i0`` and ``y_j = Π_i Π_k A_ik^{j^k}`` over the qualified dealers' (correct)
    Feldman commitments ``feldman``."""
    if not feldman:
        raise DkgError("no qualified dealer: the key cannot be formed")
    summed = [sum_points(column) for column in zip(*feldman.values(), strict=True)]
    return EmergencyPublicKey(
        key_round=key_round,
        t=t,
        n=n,
        h=summed[0],
        verification_keys=tuple(feldman_eval(summed, j) for j in range(1, n + 1)),
    )


def sum_points(points: Iterable[G1]) -> G1:
    total = G1()
    for point in points:
        total = total + point
    return total


# --- one authority's side --------------------------------------------------------------------


@dataclass
class Participant:
    """``P_index``'s private state for one round (its polynomials and the shares it got)."""

    key_round: int
    index: int
    t: int
    n: int
    transport_private_key: bytes
    _a: list[Fr] = field(default_factory=list, repr=False)
    _b: list[Fr] = field(default_factory=list, repr=False)
    received: dict[int, tuple[Fr, Fr]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        check_threshold(self.t, self.n)
        check_index(self.index, self.n)

    def deal(self, transport_public_keys: Mapping[int, bytes]) -> Deal:
        """Step 1: draw ``f_i, f'_i``, commit, seal ``s_ij, s'_ij`` to every other ``P_j``
        that posted a transport key (an authority absent by then gets no share)."""
        keys = set(transport_public_keys)
        if self.index not in keys or not keys <= set(range(1, self.n + 1)):
            raise DkgError(
                f"need this authority's and only indices 1..{self.n} among the X25519 keys"
            )
        self._a = random_poly(self.t - 1)
        self._b = random_poly(self.t - 1)
        commitments = tuple(
            g1_msm([G, H_PEDERSEN], [a, b]) for a, b in zip(self._a, self._b, strict=True)
        )
        sealed = {}
        for j, public in transport_public_keys.items():
            s, s_prime = self.share_for(j)
            if j == self.index:
                self.received[j] = (s, s_prime)
                continue
            plain = cbor2.dumps(
                [self.key_round, self.index, j, fr_to_bytes(s), fr_to_bytes(s_prime)]
            )
            sealed[j] = seal(plain, public, purpose=_SHARE_PURPOSE)
        return Deal(self.key_round, self.index, commitments, sealed)

    def share_for(self, j: int) -> tuple[Fr, Fr]:
        """``(f_i(j), f'_i(j))``: what this dealer owes ``P_j`` (also for reveals)."""
        return eval_poly(self._a, j), eval_poly(self._b, j)

    def receive(self, deals: Mapping[int, Deal]) -> list[Complaint]:
        """Step 2: open and check the share of every other dealer; complain where it fails."""
        complaints = []
        for i, deal in sorted(deals.items()):
            if i == self.index:
                continue
            opened = self._open(deal)
            if opened is None or not pedersen_ok(deal, self.index, *opened):
                complaints.append(Complaint(self.key_round, self.index, i))
            else:
                self.received[i] = opened
        return complaints

    def answer(self, complaints: Iterable[Complaint]) -> list[Reveal]:
        """Step 3: reveal the shares of those who complained against this dealer."""
        return [
            Reveal(self.key_round, self.index, c.accuser, *self.share_for(c.accuser))
            for c in complaints
            if c.accused == self.index and c.accuser != self.index
        ]

    def accept_reveals(self, reveals: Iterable[Reveal], deals: Mapping[int, Deal]) -> None:
        """Take a dealer's revealed share to this participant when it satisfies Eq. 4."""
        for reveal in reveals:
            i = reveal.dealer
            if (
                reveal.recipient == self.index
                and i in deals
                and i not in self.received
                and pedersen_ok(deals[i], self.index, reveal.s, reveal.s_prime)
            ):
                self.received[i] = (reveal.s, reveal.s_prime)

    def feldman(self) -> FeldmanCommitments:
        """Step 5: ``A_ik = g^{a_ik}``."""
        return FeldmanCommitments(self.key_round, self.index, tuple(G * a for a in self._a))

    def check_feldman(
        self, feldman: Mapping[int, FeldmanCommitments], qual: frozenset[int]
    ) -> list[FeldmanComplaint]:
        """Step 6: complain, with evidence, against a qualified dealer whose ``A_ik`` fail Eq. 5."""
        out = []
        for i in sorted(qual):
            if i == self.index or i not in feldman or i not in self.received:
                continue
            s, s_prime = self.received[i]
            if not feldman_ok(feldman[i].commitments, self.index, s):
                out.append(FeldmanComplaint(self.key_round, self.index, i, s, s_prime))
        return out

    def reconstruction_shares(self, accused: Iterable[int]) -> list[ReconstructionShare]:
        """Step 7: publish this participant's shares of the dealers being reconstructed."""
        return [
            ReconstructionShare(self.key_round, self.index, i, *self.received[i])
            for i in sorted(accused)
            if i in self.received and i != self.index
        ]

    def secret_share(self, qual: frozenset[int]) -> SecretShare:
        """``x_j = Σ_{i∈QUAL} s_ij``."""
        missing = sorted(i for i in qual if i not in self.received)
        if missing:
            raise DkgError(f"authority {self.index} lacks valid shares from dealers {missing}")
        total = Fr()
        for i in qual:
            total = total + self.received[i][0]
        return SecretShare(key_round=self.key_round, index=self.index, x=total)

    def _open(self, deal: Deal) -> tuple[Fr, Fr] | None:
        box = deal.sealed.get(self.index)
        if box is None:
            return None
        try:
            raw = cbor2.loads(open_sealed(box, self.transport_private_key, purpose=_SHARE_PURPOSE))
            key_round, i, j, s, s_prime = raw
            if (key_round, i, j) != (self.key_round, deal.dealer, self.index):
                return None
            return decode_scalar(s, "s_ij"), decode_scalar(s_prime, "s'_ij")
        except (CryptoError, cbor2.CBORDecodeError, ValueError, TypeError):
            return None


# --- helpers ---------------------------------------------------------------------------------


def _interpolate(points: Sequence[tuple[int, Fr]]) -> list[Fr]:
    """Coefficients of the unique polynomial of degree ``len(points) − 1`` through ``points``."""
    size = len(points)
    result = [Fr() for _ in range(size)]
    xs = [x for x, _ in points]
    for x_i, y_i in points:
        basis = [fr_from_int(1)]  # Π_{j≠i} (z − x_j) / (x_i − x_j), built up coefficient-wise
        for x_j in xs:
            if x_j == x_i:
                continue
            shifted = [Fr(), *basis]
            for k, coefficient in enumerate(basis):
                shifted[k] = shifted[k] - coefficient * fr_from_int(x_j)
            basis = shifted
        scale = y_i * lagrange_denominator_inverse(xs, x_i)
        for k in range(size):
            result[k] = result[k] + basis[k] * scale
    return result


def lagrange_denominator_inverse(xs: Sequence[int], x_i: int) -> Fr:
    """``1 / Π_{j≠i} (x_i − x_j)``."""
    denominator = fr_from_int(1)
    for x_j in xs:
        if x_j != x_i:
            denominator = denominator * fr_from_int(x_i - x_j)
    return fr_from_int(1) / denominator


__all__ = [
    "Complaint",
    "Deal",
    "FeldmanCommitments",
    "FeldmanComplaint",
    "Participant",
    "ReconstructionShare",
    "Reveal",
    "accused_in_extraction",
    "feldman_ok",
    "lagrange_at_zero",
    "pedersen_ok",
    "public_key",
    "qualified",
    "reconstruct_feldman",
]
