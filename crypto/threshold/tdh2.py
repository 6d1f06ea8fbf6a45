"""TDH2: threshold public-key encryption secure against chosen-ciphertext attack.

Paper: V. Shoup and R. Gennaro, "Securing threshold cryptosystems against chosen ciphertext
attack", EUROCRYPT 1998; J. Cryptology 15(2), 2002 (the TDH2 scheme, section 5). Assumption:
the decisional Diffie–Hellman (DDH) problem is hard in ``G`` (here G1 of BLS12-381, see
:mod:`crypto.threshold.group`), in the random-oracle model for ``H_1``, ``H_2`` and ``H_4``.
Security: CCA-secure against a static adversary corrupting fewer than ``t`` of the ``n``
decryption servers, and *robust*: every decryption share carries a proof, so a wrong share is
detected and its server named.

MedLedger uses it for the emergency slot of a record: the message ``m`` is the record's
32-byte data key, the label ``L`` binds the record id, the patient and the consortium key
round (:func:`emergency_label`), the public key ``h = g^x`` is the consortium emergency key
whose secret ``x`` no one holds (it is shared ``t``-of-``n`` among the institutions'
authorities by :mod:`crypto.threshold.dkg`), and an authority's decryption share is released
only under an opening the chain shows (``EmergencyKeys.releaseShares``).

Notation follows the paper. Keys: ``h = g^x``, server ``i``'s share ``x_i = f(i)`` for a
polynomial ``f`` of degree ``t−1`` with ``f(0) = x``, its verification key ``h_i = g^{x_i}``.

- Encrypt(m, L): ``r, s ← Z_q``; ``c = H_1(h^r) ⊕ m``; ``u = g^r``, ``w = g^s``,
  ``ū = ḡ^r``, ``w̄ = ḡ^s``; ``e = H_2(c, L, u, w, ū, w̄)``; ``f = s + r e``.
  Ciphertext ``ψ = (c, L, u, ū, e, f)`` (``L`` is not stored: the verifier rebuilds it).
- Validity: ``e = H_2(c, L, u, g^f / u^e, ū, ḡ^f / ū^e)`` (a proof that
  ``log_g u = log_ḡ ū`` made by someone who knows ``r``; an altered ``c``, another label or a
  mauled ``u`` fail it).
- Decryption share of server ``i`` (only for a valid ψ): ``u_i = u^{x_i}``; ``s_i ← Z_q``;
  ``û_i = u^{s_i}``, ``ĥ_i = g^{s_i}``; ``e_i = H_4(u_i, û_i, ĥ_i)``; ``f_i = s_i + x_i e_i``.
  Share ``(i, u_i, e_i, f_i)``: a Chaum–Pedersen proof that ``log_u u_i = log_g h_i``.
- Share verification: ``e_i = H_4(u_i, u^{f_i} / u_i^{e_i}, g^{f_i} / h_i^{e_i})``.
- Combination of ``t`` valid shares from distinct servers ``S``:
  ``h^r = Π_{i∈S} u_i^{λ_i}`` (Lagrange coefficients at 0), ``m = H_1(h^r) ⊕ c``.

Beyond the paper: ``H_4`` also hashes the statement (``i``, ``u``, ``h_i``) and ``H_2`` the
key ``h`` — the "strong" Fiat–Shamir transform (Bernhard, Pereira, Warinschi, ASIACRYPT 2012,
eprint 2016/771), so a proof cannot be replayed for another statement. ``H_1`` is SHAKE-256
of the point's encoding, stretched to ``|m|``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cbor2
from pymcl import G1, Fr

from crypto.errors import (
    InvalidCiphertextError,
    InvalidShareError,
    NotEnoughSharesError,
    ThresholdFormatError,
)
from crypto.threshold.group import (
    GBAR,
    G,
    check_index,
    decode_scalar,
    fr_to_bytes,
    g1_from_bytes,
    g1_msm,
    g1_to_bytes,
    hash_to_scalar,
    lagrange_at_zero,
    random_fr,
)
from crypto.threshold.keys import EmergencyPublicKey

FORMAT_VERSION = 1
MAX_MESSAGE_BYTES = 64
_H1_TAG = b"MEDLEDGER-TDH2-V1 H1"
_H2_TAG = b"MEDLEDGER-TDH2-V1 H2"
_H4_TAG = b"MEDLEDGER-TDH2-V1 H4"
_LABEL_TAG = b"MEDLEDGER-EMERGENCY-V1"


def emergency_label(*, record_id: bytes, patient: str, key_round: int) -> bytes:
    """The label ``L`` of a record's emergency slot: tag, key round, record id, patient.

    ``record_id`` is the 32-byte on-chain id; ``patient`` the 0x address (any case)."""
    if not isinstance(record_id, bytes) or len(record_id) != 32:
        raise ThresholdFormatError("record id must be 32 bytes")
    if not isinstance(patient, str) or len(patient) != 42 or not patient.startswith("0x"):
        raise ThresholdFormatError(f"patient must be a 0x address, not {patient!r}")
    try:
        address = bytes.fromhex(patient[2:])
    except ValueError:
        raise ThresholdFormatError(f"patient must be a 0x address, not {patient!r}") from None
    return _LABEL_TAG + key_round.to_bytes(8, "big") + record_id + address


@dataclass(frozen=True, slots=True)
class Ciphertext:
    """``ψ = (c, u, ū, e, f)`` under the consortium key of round ``key_round``."""

    key_round: int
    c: bytes
    u: G1
    ubar: G1
    e: Fr
    f: Fr

    def to_bytes(self) -> bytes:
        return cbor2.dumps(
            {
                "v": FORMAT_VERSION,
                "round": self.key_round,
                "c": self.c,
                "u": g1_to_bytes(self.u),
                "ub": g1_to_bytes(self.ubar),
                "e": fr_to_bytes(self.e),
                "f": fr_to_bytes(self.f),
            },
            canonical=True,
        )

    @classmethod
    def from_bytes(cls, data: object) -> Ciphertext:
        """Decode untrusted bytes; points are checked (curve, subgroup, not identity)."""
        doc = _decode(data, {"v", "round", "c", "u", "ub", "e", "f"}, "TDH2 ciphertext")
        key_round = doc["round"]
        if not isinstance(key_round, int) or isinstance(key_round, bool) or key_round < 1:
            raise ThresholdFormatError("TDH2 ciphertext round must be a positive integer")
        c = doc["c"]
        if not isinstance(c, bytes) or not 1 <= len(c) <= MAX_MESSAGE_BYTES:
            raise ThresholdFormatError(f"TDH2 ciphertext c must be 1..{MAX_MESSAGE_BYTES} bytes")
        return cls(
            key_round=key_round,
            c=c,
            u=g1_from_bytes(doc["u"]),
            ubar=g1_from_bytes(doc["ub"]),
            e=decode_scalar(doc["e"], "e"),
            f=decode_scalar(doc["f"], "f"),
        )


@dataclass(frozen=True, slots=True)
class DecryptionShare:
    """Server ``i``'s share ``(i, u_i, e_i, f_i)`` of one ciphertext."""

    index: int
    ui: G1
    ei: Fr
    fi: Fr

    def to_bytes(self) -> bytes:
        return cbor2.dumps(
            {
                "v": FORMAT_VERSION,
                "i": self.index,
                "ui": g1_to_bytes(self.ui),
                "e": fr_to_bytes(self.ei),
                "f": fr_to_bytes(self.fi),
            },
            canonical=True,
        )

    @classmethod
    def from_bytes(cls, data: object) -> DecryptionShare:
        doc = _decode(data, {"v", "i", "ui", "e", "f"}, "decryption share")
        return cls(
            index=check_index(doc["i"]),
            ui=g1_from_bytes(doc["ui"]),
            ei=decode_scalar(doc["e"], "e_i"),
            fi=decode_scalar(doc["f"], "f_i"),
        )


def encrypt(public_key: EmergencyPublicKey, message: bytes, label: bytes) -> Ciphertext:
    """Encrypt(m, L) of the paper under ``h = public_key.h``."""
    if not isinstance(message, bytes) or not 1 <= len(message) <= MAX_MESSAGE_BYTES:
        raise ThresholdFormatError(f"message must be 1..{MAX_MESSAGE_BYTES} bytes")
    return encrypt_with_randomness(
        public_key, message, label, r=random_fr(nonzero=True), s=random_fr()
    )


def encrypt_with_randomness(
    public_key: EmergencyPublicKey, message: bytes, label: bytes, *, r: Fr, s: Fr
) -> Ciphertext:
    """Encrypt(m, L) with the caller's ``r`` and ``s`` (the tests check the paper's equations
    with them); use :func:`encrypt`, which draws them from the OS CSPRNG."""
    if not isinstance(message, bytes) or not 1 <= len(message) <= MAX_MESSAGE_BYTES:
        raise ThresholdFormatError(f"message must be 1..{MAX_MESSAGE_BYTES} bytes")
    c = _xor(message, _h1(public_key.h * r, len(message)))
    u, w = G * r, G * s
    ubar, wbar = GBAR * r, GBAR * s
    e = _h2(public_key, c, label, u, w, ubar, wbar)
    return Ciphertext(key_round=public_key.key_round, c=c, u=u, ubar=ubar, e=e, f=s + r * e)


def verify_ciphertext(public_key: EmergencyPublicKey, ciphertext: Ciphertext, label: bytes) -> None:
    """Raise :class:`InvalidCiphertextError` unless ``e = H_2(c, L, u, g^f/u^e, ū, ḡ^f/ū^e)``."""
    if ciphertext.key_round != public_key.key_round:
        raise InvalidCiphertextError(
            f"ciphertext is for emergency key round {ciphertext.key_round}, "
            f"not {public_key.key_round}"
        )
    minus_e = -ciphertext.e
    w = g1_msm([G, ciphertext.u], [ciphertext.f, minus_e])
    wbar = g1_msm([GBAR, ciphertext.ubar], [ciphertext.f, minus_e])
    expected = _h2(public_key, ciphertext.c, label, ciphertext.u, w, ciphertext.ubar, wbar)
    if expected != ciphertext.e:
        raise InvalidCiphertextError(
            "the emergency slot fails its validity proof for this record and patient"
        )


def decrypt_share(
    public_key: EmergencyPublicKey,
    ciphertext: Ciphertext,
    label: bytes,
    *,
    index: int,
    secret_share: Fr,
    s_i: Fr | None = None,
) -> DecryptionShare:
    """Server ``index``'s share, only for a ciphertext valid under ``label``.

    ``s_i`` is the Chaum-Pedersen proof's nonce, drawn from the OS CSPRNG when omitted (always,
    in production); a caller passes it only to make reproducible vectors, as with
    :func:`encrypt_with_randomness`. A reused nonce reveals ``secret_share``."""
    check_index(index, public_key.n)
    verify_ciphertext(public_key, ciphertext, label)
    ui = ciphertext.u * secret_share
    si = random_fr() if s_i is None else s_i
    uhat, hhat = ciphertext.u * si, G * si
    ei = _h4(index, ciphertext.u, public_key.verification_key(index), ui, uhat, hhat)
    return DecryptionShare(index=index, ui=ui, ei=ei, fi=si + secret_share * ei)


def verify_share(
    public_key: EmergencyPublicKey, ciphertext: Ciphertext, share: DecryptionShare
) -> None:
    """Raise :class:`InvalidShareError` (naming ``share.index``) unless
    ``e_i = H_4(u_i, u^{f_i}/u_i^{e_i}, g^{f_i}/h_i^{e_i})``."""
    index = share.index
    if not 1 <= index <= public_key.n:
        raise InvalidShareError(f"no authority has index {index}", index=index)
    hi = public_key.verification_key(index)
    minus_e = -share.ei
    uhat = g1_msm([ciphertext.u, share.ui], [share.fi, minus_e])
    hhat = g1_msm([G, hi], [share.fi, minus_e])
    if _h4(index, ciphertext.u, hi, share.ui, uhat, hhat) != share.ei:
        raise InvalidShareError(
            f"decryption share of authority {index} fails its Chaum-Pedersen proof", index=index
        )


def combine(
    public_key: EmergencyPublicKey,
    ciphertext: Ciphertext,
    label: bytes,
    shares: list[DecryptionShare],
) -> bytes:
    """``m = H_1(Π u_i^{λ_i}) ⊕ c`` from ``t`` shares, after checking ψ and every share.

    Uses the first ``t`` shares of distinct authorities; raises
    :class:`InvalidCiphertextError`, :class:`InvalidShareError` (the first bad one, by index),
    :class:`ThresholdFormatError` for a repeated index, :class:`NotEnoughSharesError` when
    fewer than ``t`` are given."""
    verify_ciphertext(public_key, ciphertext, label)
    seen: set[int] = set()
    for share in shares:
        if share.index in seen:
            raise ThresholdFormatError(f"two shares of authority {share.index}")
        seen.add(share.index)
    if len(shares) < public_key.t:
        raise NotEnoughSharesError(
            f"{len(shares)} decryption share(s), the emergency key needs {public_key.t}"
        )
    chosen = shares[: public_key.t]
    for share in chosen:
        verify_share(public_key, ciphertext, share)
    indices = [share.index for share in chosen]
    hr = g1_msm([s.ui for s in chosen], [lagrange_at_zero(indices, i) for i in indices])
    return _xor(ciphertext.c, _h1(hr, len(ciphertext.c)))


# --- hashes and codecs ----------------------------------------------------------------------


def _h1(point: G1, size: int) -> bytes:
    return hashlib.shake_256(_H1_TAG + g1_to_bytes(point)).digest(size)


def _h2(
    public_key: EmergencyPublicKey, c: bytes, label: bytes, u: G1, w: G1, ubar: G1, wbar: G1
) -> Fr:
    points = (public_key.h, u, w, ubar, wbar)
    return hash_to_scalar(_H2_TAG, [c, label, *(g1_to_bytes(p) for p in points)])


def _h4(index: int, u: G1, hi: G1, ui: G1, uhat: G1, hhat: G1) -> Fr:
    points = (u, hi, ui, uhat, hhat)
    return hash_to_scalar(_H4_TAG, [index.to_bytes(2, "big"), *(g1_to_bytes(p) for p in points)])


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _decode(data: object, fields: set[str], what: str) -> dict:
    if not isinstance(data, bytes) or len(data) > 4096:
        raise ThresholdFormatError(f"{what} must be at most 4096 bytes")
    try:
        doc = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise ThresholdFormatError(f"{what} is not valid CBOR: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != fields:
        raise ThresholdFormatError(f"{what} must have exactly the fields {sorted(fields)}")
    if doc["v"] != FORMAT_VERSION:
        raise ThresholdFormatError(f"{what} version {doc['v']!r} is not {FORMAT_VERSION}")
    return doc
