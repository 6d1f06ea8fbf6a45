"""The DKG's messages on the board (:mod:`crypto.threshold.dkg` for the protocol).

Each is canonical CBOR ``{"v": 1, "kind", "round", …}``; decoding is strict (exact fields,
version, kind, indices in 1..n) and every point is checked (curve, subgroup, not the
identity) through :mod:`crypto.threshold.group`. The poster's index is the board's (the
contract's event), never the payload's: readers drop a message whose payload names another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cbor2
from pymcl import G1, Fr

from crypto.errors import ThresholdFormatError
from crypto.threshold.group import (
    check_index,
    decode_points,
    decode_scalar,
    encode_points,
    fr_to_bytes,
)


@dataclass(frozen=True, slots=True)
class Deal:
    """Step 1: ``P_i``'s Pedersen commitments ``C_i0 … C_i,t−1`` and sealed shares."""

    key_round: int
    dealer: int
    commitments: tuple[G1, ...]
    sealed: Mapping[int, bytes]

    def to_bytes(self) -> bytes:
        return _dump(
            "deal",
            self.key_round,
            {
                "i": self.dealer,
                "C": encode_points(self.commitments),
                "s": {j: box for j, box in sorted(self.sealed.items())},
            },
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, t: int, n: int) -> Deal:
        key_round, doc = _load(data, "deal", {"i", "C", "s"})
        sealed = doc["s"]
        if not isinstance(sealed, dict) or not all(
            isinstance(j, int) and isinstance(box, bytes) for j, box in sealed.items()
        ):
            raise ThresholdFormatError("deal shares must map indices to sealed boxes")
        for j in sealed:
            check_index(j, n)
        return cls(
            key_round=key_round,
            dealer=check_index(doc["i"], n),
            commitments=tuple(decode_points(doc["C"], t, "Pedersen commitments")),
            sealed=dict(sealed),
        )


@dataclass(frozen=True, slots=True)
class Complaint:
    """Step 2: ``accuser`` says ``accused``'s share to it fails Eq. 4 (or does not open)."""

    key_round: int
    accuser: int
    accused: int

    def to_bytes(self) -> bytes:
        return _dump("complaint", self.key_round, {"j": self.accuser, "i": self.accused})

    @classmethod
    def from_bytes(cls, data: bytes, *, n: int) -> Complaint:
        key_round, doc = _load(data, "complaint", {"j", "i"})
        return cls(key_round, check_index(doc["j"], n), check_index(doc["i"], n))


@dataclass(frozen=True, slots=True)
class Reveal:
    """Step 3: ``dealer`` answers ``recipient``'s complaint with ``s_ij, s'_ij`` in clear."""

    key_round: int
    dealer: int
    recipient: int
    s: Fr
    s_prime: Fr

    def to_bytes(self) -> bytes:
        return _dump(
            "reveal",
            self.key_round,
            {
                "i": self.dealer,
                "j": self.recipient,
                "s": fr_to_bytes(self.s),
                "sp": fr_to_bytes(self.s_prime),
            },
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, n: int) -> Reveal:
        key_round, doc = _load(data, "reveal", {"i", "j", "s", "sp"})
        return cls(
            key_round,
            check_index(doc["i"], n),
            check_index(doc["j"], n),
            decode_scalar(doc["s"], "s_ij"),
            decode_scalar(doc["sp"], "s'_ij"),
        )


@dataclass(frozen=True, slots=True)
class FeldmanCommitments:
    """Step 5: ``A_ik = g^{a_ik}``."""

    key_round: int
    dealer: int
    commitments: tuple[G1, ...]

    def to_bytes(self) -> bytes:
        return _dump(
            "feldman", self.key_round, {"i": self.dealer, "A": encode_points(self.commitments)}
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, t: int, n: int) -> FeldmanCommitments:
        key_round, doc = _load(data, "feldman", {"i", "A"})
        return cls(
            key_round,
            check_index(doc["i"], n),
            tuple(decode_points(doc["A"], t, "Feldman commitments")),
        )


@dataclass(frozen=True, slots=True)
class FeldmanComplaint:
    """Step 6: ``accuser`` shows Pedersen-valid ``s_ij, s'_ij`` that fail Eq. 5 for ``accused``."""

    key_round: int
    accuser: int
    accused: int
    s: Fr
    s_prime: Fr

    def to_bytes(self) -> bytes:
        return _dump(
            "feldman-complaint",
            self.key_round,
            {
                "j": self.accuser,
                "i": self.accused,
                "s": fr_to_bytes(self.s),
                "sp": fr_to_bytes(self.s_prime),
            },
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, n: int) -> FeldmanComplaint:
        key_round, doc = _load(data, "feldman-complaint", {"j", "i", "s", "sp"})
        return cls(
            key_round,
            check_index(doc["j"], n),
            check_index(doc["i"], n),
            decode_scalar(doc["s"], "s_ij"),
            decode_scalar(doc["sp"], "s'_ij"),
        )


@dataclass(frozen=True, slots=True)
class ReconstructionShare:
    """Step 7: ``holder`` publishes its ``s_ij, s'_ij`` of a dealer to be reconstructed."""

    key_round: int
    holder: int
    dealer: int
    s: Fr
    s_prime: Fr

    def to_bytes(self) -> bytes:
        return _dump(
            "reconstruct",
            self.key_round,
            {
                "j": self.holder,
                "i": self.dealer,
                "s": fr_to_bytes(self.s),
                "sp": fr_to_bytes(self.s_prime),
            },
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, n: int) -> ReconstructionShare:
        key_round, doc = _load(data, "reconstruct", {"j", "i", "s", "sp"})
        return cls(
            key_round,
            check_index(doc["j"], n),
            check_index(doc["i"], n),
            decode_scalar(doc["s"], "s_ij"),
            decode_scalar(doc["sp"], "s'_ij"),
        )


def _dump(kind: str, key_round: int, body: dict) -> bytes:
    return cbor2.dumps({"v": 1, "kind": kind, "round": key_round, **body}, canonical=True)


def _load(data: object, kind: str, fields: set[str]) -> tuple[int, dict]:
    if not isinstance(data, bytes) or len(data) > 16384:
        raise ThresholdFormatError(f"DKG {kind} must be at most 16384 bytes")
    try:
        doc = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise ThresholdFormatError(f"DKG {kind} is not valid CBOR: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"v", "kind", "round", *fields}:
        raise ThresholdFormatError(f"DKG {kind} must have exactly the fields {sorted(fields)}")
    if doc["v"] != 1 or doc["kind"] != kind:
        raise ThresholdFormatError(f"not a version-1 DKG {kind}")
    key_round = doc["round"]
    if not isinstance(key_round, int) or isinstance(key_round, bool) or key_round < 1:
        raise ThresholdFormatError("DKG round must be a positive integer")
    return key_round, doc
