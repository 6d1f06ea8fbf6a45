"""FAME keys and ciphertexts, and their deterministic plain-structure encodings.

``to_obj()`` gives a CBOR-ready structure of ``dict`` (``str`` keys), ``list``, ``bytes``,
``int`` and ``str`` only, so that the envelope and key modules can CBOR-encode it
canonically; ``from_obj()`` is its strict inverse for untrusted input: every field must be
present with the right type and count, no extra keys, the scheme id must match, every group
element is decoded with :mod:`crypto.groups` (curve, subgroup, canonical encoding, not the
identity), attributes and policies must already be in canonical form (so that an object
round-trips to identical bytes). Failures raise :class:`crypto.errors.FameFormatError` (or
its subclass :class:`crypto.errors.GroupElementError` for a bad element).

Objects built by :mod:`crypto.fame` itself never pass through these checks: decoding is for
bytes from outside, and costs about a scalar multiplication per point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from pymcl import G1, G2, GT, Fr

from crypto.errors import DegenerateKeyError, FameFormatError, PolicyError
from crypto.groups import (
    fr_from_bytes,
    fr_to_bytes,
    g1_from_bytes,
    g2_from_bytes,
    gt_from_bytes,
    gt_to_bytes,
)
from crypto.msp import span_program
from crypto.policy import normalize, normalize_attribute

SCHEME_ID = "fame-cp-abe/bls12-381/k2/v1"
"""Names the scheme, curve, assumption size and encoding in every serialised object."""

MAX_ROWS = 4096
"""Upper bound on ciphertext rows / key attributes accepted from untrusted input."""

_T = TypeVar("_T")


@dataclass(frozen=True, eq=True)
class MasterPublicKey:
    """``pk = (h, H_1, H_2, T_1, T_2)``; ``h`` is the fixed generator of G2.

    Refuses degenerate keys whichever way it is built (decoded or constructed), with
    :class:`crypto.errors.DegenerateKeyError`: ``T_t = 1`` (``T_t = e(g,h)^{d_t a_t + d_3}``;
    with ``T_1 = T_2 = 1`` every ``ct' = T_1^{s_1} T_2^{s_2} M`` is the KEM secret ``M``
    itself, and with one of them 1 the scheme loses a 2-Lin component), ``T_1 = T_2`` and
    ``H_1 = H_2`` (the two components coincide). Each is an event of probability about
    ``1/r`` in an honest setup; the identity of G2 in ``H_t`` is refused by decoding."""

    H1: G2
    H2: G2
    T1: GT
    T2: GT

    def __post_init__(self) -> None:
        for name, element in (("T1", self.T1), ("T2", self.T2)):
            if element.is_one():
                raise DegenerateKeyError(
                    f"master public key {name} is the identity of GT: ciphertexts under it "
                    "would not hide their key"
                )
        for name, point in (("H1", self.H1), ("H2", self.H2)):
            if point.is_zero():
                raise DegenerateKeyError(f"master public key {name} is the identity of G2")
        if self.T1 == self.T2:
            raise DegenerateKeyError("master public key has T1 = T2 (degenerate)")
        if self.H1 == self.H2:
            raise DegenerateKeyError("master public key has H1 = H2 (degenerate)")

    def to_obj(self) -> dict[str, Any]:
        return {
            "scheme": SCHEME_ID,
            "type": "mpk",
            "H": [self.H1.serialize(), self.H2.serialize()],
            "T": [gt_to_bytes(self.T1), gt_to_bytes(self.T2)],
        }

    @classmethod
    def from_obj(cls, obj: object) -> MasterPublicKey:
        fields = _fields(obj, "mpk", ("H", "T"))
        H1, H2 = _list(fields["H"], 2, g2_from_bytes, "H")
        T1, T2 = _list(fields["T"], 2, gt_from_bytes, "T")
        return cls(H1=H1, H2=H2, T1=T1, T2=T2)


@dataclass(frozen=True, eq=True)
class MasterSecretKey:
    """``msk = (a_1, a_2, b_1, b_2, g^{d_1}, g^{d_2}, g^{d_3})`` (``g``, ``h`` are fixed)."""

    a1: Fr
    a2: Fr
    b1: Fr
    b2: Fr
    g_d1: G1
    g_d2: G1
    g_d3: G1

    def to_obj(self) -> dict[str, Any]:
        return {
            "scheme": SCHEME_ID,
            "type": "msk",
            "a": [fr_to_bytes(self.a1), fr_to_bytes(self.a2)],
            "b": [fr_to_bytes(self.b1), fr_to_bytes(self.b2)],
            "g_d": [self.g_d1.serialize(), self.g_d2.serialize(), self.g_d3.serialize()],
        }

    @classmethod
    def from_obj(cls, obj: object) -> MasterSecretKey:
        fields = _fields(obj, "msk", ("a", "b", "g_d"))
        a1, a2 = _list(fields["a"], 2, _nonzero_fr, "a")
        b1, b2 = _list(fields["b"], 2, _nonzero_fr, "b")
        g_d1, g_d2, g_d3 = _list(fields["g_d"], 3, g1_from_bytes, "g_d")
        return cls(a1=a1, a2=a2, b1=b1, b2=b2, g_d1=g_d1, g_d2=g_d2, g_d3=g_d3)


@dataclass(frozen=True, eq=True)
class UserKey:
    """``sk = (sk_0, {sk_y}_{y ∈ S}, sk')``; ``sk[y] = (sk_{y,1}, sk_{y,2}, sk_{y,3})``."""

    sk_0: tuple[G2, G2, G2]
    sk: Mapping[str, tuple[G1, G1, G1]]
    sk_prime: tuple[G1, G1, G1]

    def __post_init__(self) -> None:
        # frozen means frozen: a key's attribute map cannot be edited after issuance
        object.__setattr__(self, "sk", MappingProxyType(dict(self.sk)))

    @property
    def attributes(self) -> frozenset[str]:
        return frozenset(self.sk)

    def to_obj(self) -> dict[str, Any]:
        return {
            "scheme": SCHEME_ID,
            "type": "user-key",
            "sk_0": [p.serialize() for p in self.sk_0],
            "sk": {y: [p.serialize() for p in self.sk[y]] for y in sorted(self.sk)},
            "sk_prime": [p.serialize() for p in self.sk_prime],
        }

    @classmethod
    def from_obj(cls, obj: object) -> UserKey:
        fields = _fields(obj, "user-key", ("sk_0", "sk", "sk_prime"))
        sk_map = fields["sk"]
        if not isinstance(sk_map, dict) or len(sk_map) > MAX_ROWS:
            raise FameFormatError(f"'sk' must be a map of at most {MAX_ROWS} attributes")
        sk: dict[str, tuple[G1, G1, G1]] = {}
        for y in sorted(sk_map, key=str):
            sk[_canonical_attribute(y)] = _triple(sk_map[y], g1_from_bytes, f"sk[{y!r}]")
        return cls(
            sk_0=_triple(fields["sk_0"], g2_from_bytes, "sk_0"),
            sk=sk,
            sk_prime=_triple(fields["sk_prime"], g1_from_bytes, "sk_prime"),
        )


@dataclass(frozen=True, eq=True)
class Ciphertext:
    """``ct = ((M, ρ), ct_0, {ct_{i,l}}, ct')``; ``(M, ρ)`` is rebuilt from ``policy``, the
    canonical text, so row ``i`` of ``ct`` matches row ``i`` of :func:`crypto.msp.span_program`."""

    policy: str
    ct_0: tuple[G2, G2, G2]
    ct: tuple[tuple[G1, G1, G1], ...]
    ct_prime: GT

    def to_obj(self) -> dict[str, Any]:
        return {
            "scheme": SCHEME_ID,
            "type": "ciphertext",
            "policy": self.policy,
            "ct_0": [p.serialize() for p in self.ct_0],
            "ct": [[p.serialize() for p in row] for row in self.ct],
            "ct_prime": gt_to_bytes(self.ct_prime),
        }

    @classmethod
    def from_obj(cls, obj: object) -> Ciphertext:
        fields = _fields(obj, "ciphertext", ("policy", "ct_0", "ct", "ct_prime"))
        policy = fields["policy"]
        if not isinstance(policy, str):
            raise FameFormatError("'policy' must be a string")
        try:
            canonical_policy = normalize(policy)
        except PolicyError as exc:
            raise FameFormatError(f"ciphertext policy is invalid: {exc}") from exc
        if canonical_policy != policy:
            raise FameFormatError("ciphertext policy is not in canonical form")
        rows = len(span_program(policy))
        raw_rows = fields["ct"]
        if not isinstance(raw_rows, list) or len(raw_rows) != rows:
            raise FameFormatError(f"'ct' must be a list of {rows} rows, one per policy row")
        return cls(
            policy=policy,
            ct_0=_triple(fields["ct_0"], g2_from_bytes, "ct_0"),
            ct=tuple(_triple(row, g1_from_bytes, f"ct[{i}]") for i, row in enumerate(raw_rows)),
            ct_prime=gt_from_bytes(fields["ct_prime"]),
        )


def _fields(obj: object, kind: str, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise FameFormatError(f"a serialised FAME {kind} must be a map, not {type(obj).__name__}")
    if obj.get("scheme") != SCHEME_ID:
        raise FameFormatError(f"unknown scheme {obj.get('scheme')!r}, expected {SCHEME_ID!r}")
    if obj.get("type") != kind:
        raise FameFormatError(f"expected a FAME {kind}, got type {obj.get('type')!r}")
    expected = {"scheme", "type", *names}
    if set(obj) != expected:
        missing = sorted(expected - set(obj), key=str)
        extra = sorted(set(obj) - expected, key=str)
        raise FameFormatError(f"FAME {kind} fields: missing {missing}, unexpected {extra}")
    return obj


def _list(value: object, count: int, decode: Callable[[object], _T], name: str) -> list[_T]:
    if not isinstance(value, list) or len(value) != count:
        raise FameFormatError(f"'{name}' must be a list of {count} elements")
    return [decode(item) for item in value]


def _triple(value: object, decode: Callable[[object], _T], name: str) -> tuple[_T, _T, _T]:
    first, second, third = _list(value, 3, decode, name)
    return first, second, third


def _nonzero_fr(value: object) -> Fr:
    if not isinstance(value, bytes):
        raise FameFormatError("a scalar must be bytes")
    scalar = fr_from_bytes(value)
    if scalar.is_zero():
        raise FameFormatError("a master secret scalar is zero")
    return scalar


def _canonical_attribute(value: object) -> str:
    if not isinstance(value, str):
        raise FameFormatError("key attributes must be strings")
    try:
        folded = normalize_attribute(value)
    except PolicyError as exc:
        raise FameFormatError(f"invalid key attribute: {exc}") from exc
    if folded != value:
        raise FameFormatError(f"key attribute {value!r} is not in canonical (folded) form")
    return folded
