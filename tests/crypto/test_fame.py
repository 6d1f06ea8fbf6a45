"""FAME CP-ABE: the paper's equations with known secrets, round trips, collusion, errors.

The equation test recomputes every component from the paper's formulas with plain pymcl
scalar multiplications and single pairings (none of crypto.fame's shortcuts: no MSM, no
additions-for-±1, no pairing product) and checks the identities of the correctness proof
(Agrawal & Chase, eprint 2017/807, Section 3).
"""

from __future__ import annotations

import pymcl
import pytest
from hypothesis import given, settings
from pymcl import G1, GT, Fr

from crypto.errors import FameFormatError, PolicyError, PolicyNotSatisfied
from crypto.fame import (
    Ciphertext,
    MasterPublicKey,
    MasterSecretKey,
    UserKey,
    _encrypt,
    _keygen,
    _setup,
    decrypt,
    encrypt,
    keygen,
    setup,
)
from crypto.groups import hash_attribute, hash_column, random_fr
from crypto.msp import span_program
from tests.crypto.policy_strategies import attribute_sets, evaluate, trees_with_text

g, h = pymcl.g1, pymcl.g2
e = pymcl.pairing


def _fr(value: int) -> Fr:
    return Fr(str(value % pymcl.r))


@pytest.fixture(scope="module")
def keys() -> tuple[MasterPublicKey, MasterSecretKey]:
    return setup()


def test_components_and_correctness_identities() -> None:
    a1, a2, b1, b2 = (random_fr(nonzero=True) for _ in range(4))
    d1, d2, d3 = (random_fr() for _ in range(3))
    mpk, msk = _setup(a1=a1, a2=a2, b1=b1, b2=b2, d1=d1, d2=d2, d3=d3)
    e_gh = e(g, h)
    assert h * a1 == mpk.H1
    assert h * a2 == mpk.H2
    assert e_gh ** (d1 * a1 + d3) == mpk.T1
    assert e_gh ** (d2 * a2 + d3) == mpk.T2
    assert (msk.g_d1, msk.g_d2, msk.g_d3) == (g * d1, g * d2, g * d3)

    # a threshold (Vandermonde entries 2, 4, 9 ...), and/or, and a repeated attribute
    policy = "(2 of (a:x, b:y, c:z) and d:w) or (a:x and e:v)"
    attributes = frozenset({"a:x", "c:z", "d:w", "e:v"})
    r1, r2, sigma_prime = random_fr(), random_fr(), random_fr()
    sigma = {y: random_fr() for y in attributes}
    key = _keygen(msk, attributes, r1=r1, r2=r2, sigma=sigma, sigma_prime=sigma_prime)
    s1, s2 = random_fr(), random_fr()
    msg = e_gh ** random_fr()
    ct = _encrypt(mpk, policy, s1=s1, s2=s2, msg=msg)

    # KeyGen, term by term
    c = (b1 * r1, b2 * r2, r1 + r2)
    a = (a1, a2)
    assert key.sk_0 == (h * c[0], h * c[1], h * c[2])
    for y in attributes:
        for t in (1, 2):
            expected = g * (sigma[y] / a[t - 1])
            for ell in (1, 2, 3):
                expected = expected + hash_attribute(y, ell, t) * (c[ell - 1] / a[t - 1])
            assert key.sk[y][t - 1] == expected
        assert key.sk[y][2] == g * -sigma[y]
    g_d = (msk.g_d1, msk.g_d2)
    for t in (1, 2):
        expected = g_d[t - 1] + g * (sigma_prime / a[t - 1])
        for ell in (1, 2, 3):
            expected = expected + hash_column(1, ell, t) * (c[ell - 1] / a[t - 1])
        assert key.sk_prime[t - 1] == expected
    assert key.sk_prime[2] == msk.g_d3 + g * -sigma_prime

    # Encrypt, term by term:
    # ct_{i,l} = H(ρ(i)l1)^{s1} H(ρ(i)l2)^{s2} Π_j [H(0jl1)^{s1} H(0jl2)^{s2}]^{M_ij}
    program = span_program(policy)
    assert ct.policy == "(2 of (a:x, b:y, c:z) and d:w) or (a:x and e:v)"
    assert ct.ct_0 == (h * (a1 * s1), h * (a2 * s2), h * (s1 + s2))
    assert ct.ct_prime == e_gh ** ((d1 * a1 + d3) * s1 + (d2 * a2 + d3) * s2) * msg
    s = (s1, s2)
    for i, (label, row) in enumerate(zip(program.labels, program.rows, strict=True)):
        for ell in (1, 2, 3):
            expected = hash_attribute(label, ell, 1) * s1 + hash_attribute(label, ell, 2) * s2
            for j, m in enumerate(row, start=1):
                if m:
                    column = hash_column(j, ell, 1) * s1 + hash_column(j, ell, 2) * s2
                    expected = expected + column * _fr(m)
            assert ct.ct[i][ell - 1] == expected

    # The correctness proof: with U_j = Π_{l,t} e(H(0jlt), h)^{c_l s_t},
    #   per row:  Π_l e(ct_{i,l}, sk_{0,l}) / Π_t e(sk_{ρ(i),t}, ct_{0,t}) = Π_j U_j^{M_ij}
    #   and       Π_t e(sk'_t, ct_{0,t}) = e(g,h)^{d1 a1 s1 + d2 a2 s2 + d3 (s1 + s2)} · U_1
    U = [GT()]
    for j in range(1, program.n_cols + 1):
        u_j = GT()
        for ell in (1, 2, 3):
            for t in (1, 2):
                u_j = u_j * e(hash_column(j, ell, t), h) ** (c[ell - 1] * s[t - 1])
        U.append(u_j)
    for i, (label, row) in enumerate(zip(program.labels, program.rows, strict=True)):
        if label not in attributes:
            continue
        numerator = GT()
        for ell in range(3):
            numerator = numerator * e(ct.ct[i][ell], key.sk_0[ell])
        denominator = GT()
        for t in range(3):
            denominator = denominator * e(key.sk[label][t], ct.ct_0[t])
        expected = GT()
        for j, m in enumerate(row, start=1):
            if m:
                expected = expected * U[j] ** _fr(m)
        assert numerator / denominator == expected
    prime = GT()
    for t in range(3):
        prime = prime * e(key.sk_prime[t], ct.ct_0[t])
    assert prime == e_gh ** (d1 * a1 * s1 + d2 * a2 * s2 + d3 * (s1 + s2)) * U[1]

    assert decrypt(key, ct) == msg


def test_round_trip_for_the_design_examples(keys: tuple) -> None:
    mpk, msk = keys
    ct, element = encrypt(mpk, "role:doctor and (org:cd3h or dept:cardiology)")
    assert decrypt(keygen(msk, ["ROLE:Doctor", "dept:cardiology"]), ct) == element
    assert decrypt(keygen(msk, ["role:doctor", "org:cd3h", "x:y"]), ct) == element
    with pytest.raises(PolicyNotSatisfied):
        decrypt(keygen(msk, ["org:cd3h", "dept:cardiology"]), ct)
    ct, element = encrypt(mpk, "uid:0xAbC0 or 2 of (a:x, b:y, c:z)")
    assert ct.policy == "2 of (a:x, b:y, c:z) or uid:0xabc0"
    assert decrypt(keygen(msk, ["uid:0xABC0"]), ct) == element
    assert decrypt(keygen(msk, ["c:z", "a:x"]), ct) == element
    with pytest.raises(PolicyNotSatisfied):
        decrypt(keygen(msk, ["c:z"]), ct)


def test_each_encryption_is_fresh(keys: tuple) -> None:
    mpk, msk = keys
    first, m1 = encrypt(mpk, "a:x")
    second, m2 = encrypt(mpk, "a:x")
    assert m1 != m2
    assert first.ct_0 != second.ct_0
    key = keygen(msk, ["a:x"])
    assert (decrypt(key, first), decrypt(key, second)) == (m1, m2)
    assert keygen(msk, ["a:x"]).sk_0 != key.sk_0


@settings(max_examples=25, deadline=None)
@given(trees_with_text(), attribute_sets)
def test_random_policies_round_trip(
    keys: tuple, tree_text: tuple, attributes: frozenset[str]
) -> None:
    mpk, msk = keys
    tree, text = tree_text
    ct, element = encrypt(mpk, text)
    key = keygen(msk, attributes)
    if evaluate(tree, attributes):
        assert decrypt(key, ct) == element
    else:
        with pytest.raises(PolicyNotSatisfied):
            decrypt(key, ct)


def test_colluding_keys_cannot_be_merged(keys: tuple) -> None:
    mpk, msk = keys
    ct, element = encrypt(mpk, "a:x and b:y")
    alice = keygen(msk, ["a:x"])
    bob = keygen(msk, ["b:y"])
    for single in (alice, bob):
        with pytest.raises(PolicyNotSatisfied):
            decrypt(single, ct)
    # the obvious attack: pool the attribute components of both keys under either base
    for base in (alice, bob):
        merged = UserKey(
            sk_0=base.sk_0,
            sk={"a:x": alice.sk["a:x"], "b:y": bob.sk["b:y"]},
            sk_prime=base.sk_prime,
        )
        assert decrypt(merged, ct) != element
    honest = keygen(msk, ["a:x", "b:y"])
    assert decrypt(honest, ct) == element


def test_key_from_another_authority_yields_a_wrong_element(keys: tuple) -> None:
    mpk, _ = keys
    _, other_msk = setup()
    ct, element = encrypt(mpk, "a:x")
    assert decrypt(keygen(other_msk, ["a:x"]), ct) != element


def test_input_errors(keys: tuple) -> None:
    mpk, msk = keys
    with pytest.raises(PolicyError, match="position 4"):
        encrypt(mpk, "a:x && b:y")
    with pytest.raises(PolicyError, match="single string"):
        keygen(msk, "a:x")
    with pytest.raises(PolicyError, match="invalid attribute"):
        keygen(msk, ["a:x", "not an attribute"])
    ct, _ = encrypt(mpk, "a:x and b:y")
    key = keygen(msk, ["a:x", "b:y"])
    truncated = Ciphertext(policy=ct.policy, ct_0=ct.ct_0, ct=ct.ct[:1], ct_prime=ct.ct_prime)
    with pytest.raises(FameFormatError, match="1 rows but its policy has 2"):
        decrypt(key, truncated)
    bad_policy = Ciphertext(policy="a:x and", ct_0=ct.ct_0, ct=ct.ct, ct_prime=ct.ct_prime)
    with pytest.raises(FameFormatError, match="invalid policy"):
        decrypt(key, bad_policy)
    with pytest.raises(TypeError):
        key.sk["c:z"] = key.sk["a:x"]  # type: ignore[index]
    hollow = UserKey(sk_0=key.sk_0, sk={}, sk_prime=key.sk_prime)
    with pytest.raises(PolicyNotSatisfied):
        decrypt(hollow, ct)


def test_tampered_ciphertext_does_not_decrypt_to_the_element(keys: tuple) -> None:
    mpk, msk = keys
    ct, element = encrypt(mpk, "a:x and b:y")
    key = keygen(msk, ["a:x", "b:y"])
    bumped_row = (ct.ct[0][0] + g, ct.ct[0][1], ct.ct[0][2])
    for forged in (
        Ciphertext(ct.policy, ct.ct_0, (bumped_row, ct.ct[1]), ct.ct_prime),
        Ciphertext(ct.policy, (ct.ct_0[0], ct.ct_0[1], ct.ct_0[2] + h), ct.ct, ct.ct_prime),
        Ciphertext(ct.policy, ct.ct_0, ct.ct, ct.ct_prime * e(g, h)),
    ):
        assert decrypt(key, forged) != element
    assert G1() != bumped_row[0]


def test_threshold_with_a_repeated_child_is_neither_encrypted_nor_decrypted(keys: tuple) -> None:
    """``2 of (a:1, a:1, b:2)`` had two rows labelled a:1, so a key with a:1 alone opened it."""
    mpk, msk = keys
    with pytest.raises(PolicyError, match="repeats child 1") as info:
        encrypt(mpk, "2 of (a:1, a:1, b:2)")
    assert info.value.position == 11
    # a ciphertext made by other software with that policy (rows for a:1, a:1, b:2)
    honest, _ = encrypt(mpk, "2 of (a:1, b:2, c:3)")
    forged = Ciphertext(
        policy="2 of (a:1, a:1, b:2)",
        ct_0=honest.ct_0,
        ct=honest.ct,
        ct_prime=honest.ct_prime,
    )
    with pytest.raises(FameFormatError, match=r"invalid policy.*repeats child 1"):
        decrypt(keygen(msk, ["a:1"]), forged)
    obj = forged.to_obj()
    with pytest.raises(FameFormatError, match=r"ciphertext policy is invalid.*repeats child 1"):
        Ciphertext.from_obj(obj)
