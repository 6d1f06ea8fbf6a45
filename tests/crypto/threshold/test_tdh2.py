"""TDH2 (Shoup–Gennaro): the paper's equations, robustness against bad shares, labels."""

from __future__ import annotations

import itertools
import os

import cbor2
import pytest

from crypto.errors import (
    GroupElementError,
    InvalidCiphertextError,
    InvalidShareError,
    NotEnoughSharesError,
    ThresholdFormatError,
)
from crypto.groups_native import OFF_SUBGROUP_G1
from crypto.threshold import tdh2
from crypto.threshold.group import GBAR, G, g1_msm, lagrange_at_zero, random_fr
from crypto.threshold.tdh2 import (
    Ciphertext,
    DecryptionShare,
    combine,
    decrypt_share,
    emergency_label,
    encrypt,
    encrypt_with_randomness,
    verify_ciphertext,
    verify_share,
)
from tests.crypto.threshold.support import OTHER_PATIENT, PATIENT, RECORD, dealt_key

LABEL = emergency_label(record_id=RECORD, patient=PATIENT, key_round=1)


def shares_for(key, secret_shares, ct, label=LABEL, which=None):
    chosen = secret_shares if which is None else [secret_shares[i - 1] for i in which]
    return [decrypt_share(key, ct, label, index=s.index, secret_share=s.x) for s in chosen]


def test_the_papers_equations_hold() -> None:
    key, secret_shares, x = dealt_key(2, 4)
    r, s = random_fr(nonzero=True), random_fr()
    m = os.urandom(32)
    ct = encrypt_with_randomness(key, m, LABEL, r=r, s=s)
    # u = g^r, ū = ḡ^r; f = s + r·e, so g^f / u^e = g^s = w and ḡ^f / ū^e = ḡ^s = w̄.
    assert ct.u == G * r
    assert ct.ubar == GBAR * r
    assert g1_msm([G, ct.u], [ct.f, -ct.e]) == G * s
    assert g1_msm([GBAR, ct.ubar], [ct.f, -ct.e]) == GBAR * s
    # c = H_1(h^r) ⊕ m
    assert tdh2._xor(ct.c, tdh2._h1(key.h * r, 32)) == m
    # u_i = u^{x_i}; Π u_i^{λ_i} = u^x = h^r for every t-subset.
    shares = shares_for(key, secret_shares, ct)
    for share, sk in zip(shares, secret_shares, strict=True):
        assert share.ui == ct.u * sk.x
    for pair in itertools.combinations(shares, 2):
        idx = [p.index for p in pair]
        assert g1_msm([p.ui for p in pair], [lagrange_at_zero(idx, i) for i in idx]) == key.h * r
    assert key.h == G * x


@pytest.mark.parametrize(("t", "n"), [(1, 1), (2, 3), (2, 4), (3, 5)])
def test_any_t_shares_decrypt(t: int, n: int) -> None:
    key, secret_shares, _ = dealt_key(t, n)
    m = os.urandom(32)
    ct = encrypt(key, m, LABEL)
    shares = shares_for(key, secret_shares, ct)
    for subset in itertools.combinations(shares, t):
        assert combine(key, ct, LABEL, list(subset)) == m


def test_fewer_than_t_shares_cannot_decrypt() -> None:
    key, secret_shares, _ = dealt_key(3, 5)
    ct = encrypt(key, os.urandom(32), LABEL)
    shares = shares_for(key, secret_shares, ct, which=[2, 5])
    with pytest.raises(NotEnoughSharesError):
        combine(key, ct, LABEL, shares)
    with pytest.raises(ThresholdFormatError, match="two shares of authority 2"):
        combine(key, ct, LABEL, [*shares, shares[0]])


def test_wrong_label_is_refused_by_authority_and_combiner() -> None:
    key, secret_shares, _ = dealt_key(2, 4)
    ct = encrypt(key, os.urandom(32), LABEL)
    wrong = [
        emergency_label(record_id=bytes(32), patient=PATIENT, key_round=1),
        emergency_label(record_id=RECORD, patient=OTHER_PATIENT, key_round=1),
        emergency_label(record_id=RECORD, patient=PATIENT, key_round=2),
    ]
    for label in wrong:
        with pytest.raises(InvalidCiphertextError):
            verify_ciphertext(key, ct, label)
        with pytest.raises(InvalidCiphertextError):
            decrypt_share(key, ct, label, index=1, secret_share=secret_shares[0].x)
        with pytest.raises(InvalidCiphertextError):
            combine(key, ct, label, shares_for(key, secret_shares, ct, which=[1, 2]))


def test_altered_ciphertext_fails_its_proof() -> None:
    key, secret_shares, _ = dealt_key(2, 4)
    ct = encrypt(key, os.urandom(32), LABEL)
    altered = [
        Ciphertext(ct.key_round, bytes([ct.c[0] ^ 1]) + ct.c[1:], ct.u, ct.ubar, ct.e, ct.f),
        Ciphertext(ct.key_round, ct.c, ct.u * random_fr(), ct.ubar, ct.e, ct.f),
        Ciphertext(ct.key_round, ct.c, ct.u, ct.ubar + G, ct.e, ct.f),
        Ciphertext(ct.key_round, ct.c, ct.u, ct.ubar, ct.e + ct.f, ct.f),
        Ciphertext(ct.key_round, ct.c, ct.u, ct.ubar, ct.e, ct.f + ct.e),
        Ciphertext(2, ct.c, ct.u, ct.ubar, ct.e, ct.f),
    ]
    for bad in altered:
        with pytest.raises(InvalidCiphertextError):
            decrypt_share(key, bad, LABEL, index=1, secret_share=secret_shares[0].x)


def test_a_bad_share_is_rejected_and_names_its_authority() -> None:
    key, secret_shares, _ = dealt_key(2, 4)
    m = os.urandom(32)
    ct = encrypt(key, m, LABEL)
    good = shares_for(key, secret_shares, ct)
    # authority 3 uses a wrong secret: a well-formed share whose proof cannot hold for h_3
    forged = decrypt_share(key, ct, LABEL, index=3, secret_share=random_fr())
    with pytest.raises(InvalidShareError) as err:
        verify_share(key, ct, forged)
    assert err.value.index == 3
    with pytest.raises(InvalidShareError) as err:
        combine(key, ct, LABEL, [good[0], forged])
    assert err.value.index == 3
    # another authority's honest share relabelled as authority 4's
    relabelled = DecryptionShare(4, good[1].ui, good[1].ei, good[1].fi)
    with pytest.raises(InvalidShareError) as err:
        verify_share(key, ct, relabelled)
    assert err.value.index == 4
    # u_i changed but proof kept; a share of another ciphertext
    with pytest.raises(InvalidShareError):
        verify_share(key, ct, DecryptionShare(2, good[1].ui + G, good[1].ei, good[1].fi))
    other = encrypt(key, m, LABEL)
    with pytest.raises(InvalidShareError):
        verify_share(key, other, good[1])
    with pytest.raises(InvalidShareError):
        verify_share(key, ct, DecryptionShare(9, good[1].ui, good[1].ei, good[1].fi))
    # the honest ones still combine
    assert combine(key, ct, LABEL, [good[0], good[3]]) == m


def test_encodings_round_trip_and_untrusted_points_are_checked() -> None:
    key, secret_shares, _ = dealt_key(2, 3)
    m = os.urandom(32)
    ct = Ciphertext.from_bytes(encrypt(key, m, LABEL).to_bytes())
    shares = [DecryptionShare.from_bytes(s.to_bytes()) for s in shares_for(key, secret_shares, ct)]
    assert combine(key, ct, LABEL, shares[:2]) == m
    doc = cbor2.loads(ct.to_bytes())
    for bad_u in (OFF_SUBGROUP_G1, bytes(48), b"\xc0" + bytes(47)):
        with pytest.raises(GroupElementError):
            Ciphertext.from_bytes(cbor2.dumps({**doc, "u": bad_u}))
    sdoc = cbor2.loads(shares[0].to_bytes())
    with pytest.raises(GroupElementError):
        DecryptionShare.from_bytes(cbor2.dumps({**sdoc, "ui": OFF_SUBGROUP_G1}))
    for bad in (
        b"\xff",
        cbor2.dumps({**doc, "v": 2}),
        cbor2.dumps({**doc, "extra": 1}),
        cbor2.dumps({**doc, "e": b"\xff" * 32}),
        cbor2.dumps({**doc, "c": b""}),
        cbor2.dumps({**doc, "round": 0}),
        b"\x00" * 5000,
    ):
        with pytest.raises((ThresholdFormatError, GroupElementError)):
            Ciphertext.from_bytes(bad)
    with pytest.raises(ThresholdFormatError):
        DecryptionShare.from_bytes(cbor2.dumps({**sdoc, "i": 0}))


def test_label_needs_a_record_id_and_an_address() -> None:
    with pytest.raises(ThresholdFormatError):
        emergency_label(record_id=b"short", patient=PATIENT, key_round=1)
    with pytest.raises(ThresholdFormatError):
        emergency_label(record_id=RECORD, patient="0xnothex" + "0" * 34, key_round=1)


def test_a_given_proof_nonce_makes_the_share_reproducible_and_still_valid() -> None:
    key, secret_shares, _ = dealt_key(2, 3)
    ct = encrypt(key, os.urandom(32), LABEL)
    sk = secret_shares[0]
    nonce = random_fr()
    first = decrypt_share(key, ct, LABEL, index=sk.index, secret_share=sk.x, s_i=nonce)
    again = decrypt_share(key, ct, LABEL, index=sk.index, secret_share=sk.x, s_i=nonce)
    assert first == again
    assert first.fi == nonce + sk.x * first.ei  # f_i = s_i + x_i·e_i
    verify_share(key, ct, first)
    # without s_i each call draws a fresh nonce from the CSPRNG
    drawn = decrypt_share(key, ct, LABEL, index=sk.index, secret_share=sk.x)
    assert drawn.ui == first.ui
    assert drawn.fi != first.fi
    verify_share(key, ct, drawn)
