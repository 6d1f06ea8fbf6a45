"""ConsentManager: EIP-712 consents and revocations made with ``crypto.signing`` (eth-account's
typed-data signing), relayed or direct; replay, domain, expiry and malleability rejections."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account
from eth_utils import keccak

from crypto.signing import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    Consent,
    Domain,
    Purpose,
    Revocation,
    consent_id,
    sign,
    type_hash,
)
from tests.contracts.helpers import Chain, b32, rid, same

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def cm(chain: Chain):
    return chain.c["ConsentManager"].functions


def domain(chain: Chain) -> Domain:
    return Domain(
        chain_id=chain.w3.eth.chain_id, verifying_contract=chain.c["ConsentManager"].address
    )


def consent(chain: Chain, **overrides: object) -> Consent:
    fields: dict[str, object] = {
        "patient": chain.addr("patient"),
        "grantee": chain.addr("doctor_b"),
        "purpose": Purpose.REFERRAL,
        "expires_at": chain.now() + 86_400,
        "nonce": 1,
    }
    fields.update(overrides)
    return Consent(**fields)  # type: ignore[arg-type]


def args(c: Consent) -> tuple[object, ...]:
    return tuple(c.message().values())


def signed(chain: Chain, c: Consent, signer: str = "patient", dom: Domain | None = None) -> bytes:
    return sign(dom or domain(chain), c, chain.accounts[signer].key)


def grant(chain: Chain, c: Consent, by: str = "relayer") -> dict[str, object]:
    receipt = chain.send(by, cm(chain).grantBySig(args(c), signed(chain, c)))
    return chain.one_event("ConsentManager", "ConsentGranted", receipt)


def revocation(chain: Chain, c: Consent, nonce: int, deadline: int | None = None) -> Revocation:
    return Revocation(
        patient=c.patient,
        consent_id=consent_id(c),
        nonce=nonce,
        deadline=deadline if deadline is not None else chain.now() + 3600,
    )


def revoke_call(chain: Chain, c: Consent, rev: Revocation, signer: str = "patient"):
    sig = sign(domain(chain), rev, chain.accounts[signer].key)
    return cm(chain).revokeBySig(args(c), rev.nonce, rev.deadline, sig)


# -- the domain and types agree with crypto.signing -------------------------------------------


def test_types_and_domain_match_crypto_signing(chain: Chain) -> None:
    f = cm(chain)
    assert f.CONSENT_TYPEHASH().call() == type_hash("Consent")
    assert f.REVOCATION_TYPEHASH().call() == type_hash("Revocation")
    assert f.NAME().call() == DOMAIN_NAME
    assert f.VERSION().call() == DOMAIN_VERSION
    fields, name, version, chain_id, contract, salt, ext = f.eip712Domain().call()
    assert fields == b"\x0f"
    assert (name, version, chain_id) == (DOMAIN_NAME, DOMAIN_VERSION, chain.w3.eth.chain_id)
    assert same(contract, chain.c["ConsentManager"].address)
    assert salt == b"\x00" * 32
    assert ext == []
    c = consent(chain, record_id=rid("r"), not_before=5)
    assert f.hashConsent(args(c)).call() == consent_id(c)


# -- grants ---------------------------------------------------------------------------------


def test_relayed_consent_signed_with_eth_account_is_accepted(chain: Chain) -> None:
    c = consent(chain)
    assert cm(chain).isAllowed(c.patient, c.grantee, rid("any"), Purpose.REFERRAL).call() is False
    ev = grant(chain, c)
    assert ev == {
        "consentId": consent_id(c),
        "patient": c.patient,
        "grantee": c.grantee,
        "granteePolicyHash": b"\x00" * 32,
        "recordId": b"\x00" * 32,
        "purpose": Purpose.REFERRAL,
        "notBefore": 0,
        "expiresAt": c.expires_at,
        "nonce": 1,
    }
    f = cm(chain)
    # whole chart: any record of the patient, for that purpose only, for that grantee only
    assert f.isAllowed(c.patient, c.grantee, rid("any"), Purpose.REFERRAL).call() is True
    assert f.isAllowed(c.patient, c.grantee, b"\x00" * 32, Purpose.REFERRAL).call() is True
    assert f.isAllowed(c.patient, c.grantee, rid("any"), Purpose.TREATMENT).call() is False
    assert (
        f.isAllowed(c.patient, chain.addr("doctor_a"), rid("any"), Purpose.REFERRAL).call() is False
    )
    assert (
        f.isAllowed(chain.addr("patient2"), c.grantee, rid("any"), Purpose.REFERRAL).call() is False
    )
    assert f.grantOf(c.patient, c.grantee, b"\x00" * 32, b"\x00" * 32, 1).call() == [
        0,
        c.expires_at,
        1,
    ]


def test_anyone_may_relay(chain: Chain) -> None:
    c = consent(chain)
    receipt = chain.send("outsider", cm(chain).grantBySig(args(c), signed(chain, c)))
    assert chain.one_event("ConsentManager", "ConsentGranted", receipt)["consentId"] == consent_id(
        c
    )


def test_single_record_scope(chain: Chain) -> None:
    c = consent(chain, record_id=rid("r1"), purpose=Purpose.CONSULTATION)
    grant(chain, c)
    f = cm(chain)
    assert f.isAllowed(c.patient, c.grantee, rid("r1"), Purpose.CONSULTATION).call() is True
    assert f.isAllowed(c.patient, c.grantee, rid("r2"), Purpose.CONSULTATION).call() is False
    assert f.isAllowed(c.patient, c.grantee, b"\x00" * 32, Purpose.CONSULTATION).call() is False


def test_policy_grantee(chain: Chain) -> None:
    policy = keccak(text="role:doctor and org:pujiang")
    zero = "0x" + "00" * 20
    c = consent(chain, grantee=zero, grantee_policy_hash=policy, purpose=Purpose.RESEARCH)
    ev = grant(chain, c)
    assert ev["granteePolicyHash"] == policy
    assert int(ev["grantee"], 16) == 0
    f = cm(chain)
    assert f.isAllowedForPolicy(c.patient, policy, rid("x"), Purpose.RESEARCH).call() is True
    assert f.isAllowedForPolicy(c.patient, keccak(text="other"), rid("x"), 4).call() is False
    assert f.isAllowedForPolicy(c.patient, b"\x00" * 32, rid("x"), Purpose.RESEARCH).call() is False
    # an address grant never answers a policy question and vice versa
    assert f.isAllowed(c.patient, zero, rid("x"), Purpose.RESEARCH).call() is False


def test_not_before_and_expiry_window(chain: Chain) -> None:
    now = chain.now()
    c = consent(chain, not_before=now + 1000, expires_at=now + 2000)
    grant(chain, c)
    f = cm(chain)
    assert f.isAllowed(c.patient, c.grantee, rid("a"), Purpose.REFERRAL).call() is False
    chain.mine(now + 1000)
    assert f.isAllowed(c.patient, c.grantee, rid("a"), Purpose.REFERRAL).call() is True
    chain.mine(now + 1999)
    assert f.isAllowed(c.patient, c.grantee, rid("a"), Purpose.REFERRAL).call() is True
    chain.mine(now + 2000)
    assert f.isAllowed(c.patient, c.grantee, rid("a"), Purpose.REFERRAL).call() is False


def test_direct_grant_by_patient(chain: Chain) -> None:
    c = consent(chain, purpose=Purpose.EMERGENCY)
    receipt = chain.send("patient", cm(chain).grant(args(c)))
    assert chain.one_event("ConsentManager", "ConsentGranted", receipt)["consentId"] == consent_id(
        c
    )
    assert cm(chain).isAllowed(c.patient, c.grantee, rid("z"), Purpose.EMERGENCY).call() is True
    other = consent(chain, nonce=2)
    chain.reverts(
        "relayer",
        cm(chain).grant(args(other)),
        "ConsentManagerNotPatient",
        caller=chain.addr("relayer"),
        patient=c.patient,
    )


def test_later_consent_replaces_earlier_for_same_key(chain: Chain) -> None:
    now = chain.now()
    grant(chain, consent(chain, expires_at=now + 10_000, nonce=1))
    later = consent(chain, expires_at=now + 500, nonce=5)
    grant(chain, later)
    assert cm(chain).grantOf(
        later.patient, later.grantee, b"\x00" * 32, b"\x00" * 32, 1
    ).call() == [
        0,
        now + 500,
        5,
    ]


# -- rejections -----------------------------------------------------------------------------


def test_replayed_nonce_rejected(chain: Chain) -> None:
    c = consent(chain, nonce=7)
    grant(chain, c)
    sig = signed(chain, c)
    chain.reverts(
        "relayer", cm(chain).grantBySig(args(c), sig), "ConsentManagerNonceUsed", nonce=7, current=7
    )
    lower = consent(chain, nonce=3)
    chain.reverts(
        "relayer",
        cm(chain).grantBySig(args(lower), signed(chain, lower)),
        "ConsentManagerNonceUsed",
        nonce=3,
        current=7,
    )


def test_wrong_chain_id_rejected(chain: Chain) -> None:
    c = consent(chain)
    wrong = dataclasses.replace(domain(chain), chain_id=chain.w3.eth.chain_id + 1)
    revert = chain.reverts(
        "relayer",
        cm(chain).grantBySig(args(c), signed(chain, c, dom=wrong)),
        "ConsentManagerWrongSigner",
        patient=c.patient,
    )
    assert not same(revert.args["signer"], c.patient)


def test_wrong_verifying_contract_rejected(chain: Chain) -> None:
    c = consent(chain)
    wrong = dataclasses.replace(domain(chain), verifying_contract=chain.c["AccessLog"].address)
    chain.reverts(
        "relayer",
        cm(chain).grantBySig(args(c), signed(chain, c, dom=wrong)),
        "ConsentManagerWrongSigner",
    )
    wrong_name = dataclasses.replace(domain(chain), name="Other")
    chain.reverts(
        "relayer",
        cm(chain).grantBySig(args(c), signed(chain, c, dom=wrong_name)),
        "ConsentManagerWrongSigner",
    )


def test_signature_by_someone_else_rejected(chain: Chain) -> None:
    c = consent(chain)
    chain.reverts(
        "relayer",
        cm(chain).grantBySig(args(c), signed(chain, c, signer="doctor_b")),
        "ConsentManagerWrongSigner",
        signer=chain.addr("doctor_b"),
        patient=c.patient,
    )


def test_tampered_field_rejected(chain: Chain) -> None:
    c = consent(chain)
    sig = signed(chain, c)
    for tampered in (
        dataclasses.replace(c, grantee=chain.addr("doctor_a")),
        dataclasses.replace(c, purpose=Purpose.RESEARCH),
        dataclasses.replace(c, expires_at=c.expires_at + 1),
        dataclasses.replace(c, record_id=rid("x")),
    ):
        chain.reverts(
            "relayer", cm(chain).grantBySig(args(tampered), sig), "ConsentManagerWrongSigner"
        )


def test_expired_consent_rejected(chain: Chain) -> None:
    now = chain.now()
    c = consent(chain, expires_at=now + 100)
    sig = signed(chain, c)
    chain.mine(now + 100)
    chain.reverts(
        "relayer",
        cm(chain).grantBySig(args(c), sig),
        "ConsentManagerInvalidWindow",
        expiresAt=now + 100,
    )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"grantee": "0x" + "00" * 20}, "ConsentManagerInvalidGrantee"),
        ({"grantee_policy_hash": b"\x01" * 32}, "ConsentManagerInvalidGrantee"),
        ({"purpose": 5}, "ConsentManagerInvalidPurpose"),
        ({"expires_at": 0}, "ConsentManagerInvalidWindow"),
        ({"not_before": 2**40, "expires_at": 2**40}, "ConsentManagerInvalidWindow"),
        ({"nonce": 2**128}, "ConsentManagerNonceTooLarge"),
        ({"nonce": 0}, "ConsentManagerNonceUsed"),
    ],
)
def test_invalid_consents(chain: Chain, overrides: dict[str, object], error: str) -> None:
    c = consent(chain, **overrides)
    chain.reverts("relayer", cm(chain).grantBySig(args(c), signed(chain, c)), error)
    chain.reverts("patient", cm(chain).grant(args(c)), error)


def test_invalid_patient(chain: Chain) -> None:
    c = consent(chain, patient="0x" + "00" * 20)
    chain.reverts("outsider", cm(chain).grant(args(c)), "ConsentManagerNotPatient")


def test_malleable_and_malformed_signatures_rejected(chain: Chain) -> None:
    c = consent(chain)
    sig = signed(chain, c)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high_s = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    # the twin is a valid ECDSA signature by the same key — still refused
    assert (
        Account._recover_hash(  # type: ignore[attr-defined]
            keccak(b"\x19\x01" + cm(chain).domainSeparator().call() + consent_id(c)),
            signature=high_s,
        )
        == c.patient
    )
    bad = [
        high_s,
        sig[:64] + bytes([v - 27]),  # v in {0, 1}
        sig[:64] + bytes([29]),
        sig[:64],  # 64 bytes
        sig + b"\x00",  # 66 bytes
        b"\x00" * 32 + sig[32:],  # r = 0: ecrecover yields nothing
    ]
    for signature in bad:
        chain.reverts(
            "relayer", cm(chain).grantBySig(args(c), signature), "ConsentManagerInvalidSignature"
        )
    grant(chain, c)  # the canonical signature still works


# -- revocations ------------------------------------------------------------------------------


def test_relayed_revocation(chain: Chain) -> None:
    c = consent(chain, nonce=3)
    grant(chain, c)
    rev = revocation(chain, c, nonce=4)
    receipt = chain.send("relayer", revoke_call(chain, c, rev))
    ev = chain.one_event("ConsentManager", "ConsentRevoked", receipt)
    assert ev == {"consentId": consent_id(c), "patient": c.patient, "nonce": 4}
    f = cm(chain)
    assert f.isAllowed(c.patient, c.grantee, rid("a"), Purpose.REFERRAL).call() is False
    assert f.grantOf(c.patient, c.grantee, b"\x00" * 32, b"\x00" * 32, 1).call() == [0, 0, 4]
    # neither the revocation nor the consent can be replayed
    chain.reverts("relayer", revoke_call(chain, c, rev), "ConsentManagerUnknownConsent")
    chain.reverts(
        "relayer",
        cm(chain).grantBySig(args(c), signed(chain, c)),
        "ConsentManagerNonceUsed",
        nonce=3,
        current=4,
    )
    # a new consent with a higher nonce works again
    again = consent(chain, nonce=5)
    grant(chain, again)
    assert f.isAllowed(c.patient, c.grantee, rid("a"), Purpose.REFERRAL).call() is True


def test_revocation_rejections(chain: Chain) -> None:
    c = consent(chain, nonce=3)
    grant(chain, c)
    now = chain.now()
    chain.reverts(
        "relayer",
        revoke_call(chain, c, revocation(chain, c, nonce=3)),
        "ConsentManagerNonceUsed",
        nonce=3,
        current=3,
    )
    chain.reverts(
        "relayer",
        revoke_call(chain, c, revocation(chain, c, nonce=4), signer="doctor_b"),
        "ConsentManagerWrongSigner",
        signer=chain.addr("doctor_b"),
    )
    late = revocation(chain, c, nonce=4, deadline=now + 10)
    call = revoke_call(chain, c, late)
    chain.mine(now + 11)
    chain.reverts("relayer", call, "ConsentManagerRevocationExpired", deadline=now + 10)
    # a consent that is not the one in force for its key
    other = dataclasses.replace(c, expires_at=c.expires_at + 5)
    chain.reverts(
        "relayer",
        revoke_call(chain, other, revocation(chain, other, nonce=9)),
        "ConsentManagerUnknownConsent",
        consentId=consent_id(other),
    )
    never = consent(chain, grantee=chain.addr("doctor_a"))
    chain.reverts(
        "relayer",
        revoke_call(chain, never, revocation(chain, never, nonce=2)),
        "ConsentManagerUnknownConsent",
    )
    # a high-s revocation signature is refused like a consent one
    rev = revocation(chain, c, nonce=4)
    sig = sign(domain(chain), rev, chain.accounts["patient"].key)
    s = int.from_bytes(sig[32:64], "big")
    high = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    chain.reverts(
        "relayer",
        cm(chain).revokeBySig(args(c), rev.nonce, rev.deadline, high),
        "ConsentManagerInvalidSignature",
    )
    chain.reverts(
        "relayer",
        cm(chain).revokeBySig(args(c), 2**128, rev.deadline, b"\x00" * 65),
        "ConsentManagerInvalidSignature",
    )


def test_revocation_nonce_too_large(chain: Chain) -> None:
    c = consent(chain, nonce=3)
    grant(chain, c)
    rev = revocation(chain, c, nonce=2**128)
    chain.reverts("relayer", revoke_call(chain, c, rev), "ConsentManagerNonceTooLarge")


def test_superseded_consent_cannot_be_revoked_by_its_old_id(chain: Chain) -> None:
    old = consent(chain, nonce=1)
    grant(chain, old)
    new = consent(chain, nonce=2)
    grant(chain, new)
    chain.reverts(
        "relayer",
        revoke_call(chain, old, revocation(chain, old, nonce=3)),
        "ConsentManagerUnknownConsent",
    )
    assert cm(chain).isAllowed(new.patient, new.grantee, rid("a"), Purpose.REFERRAL).call() is True


def test_direct_revoke_by_patient(chain: Chain) -> None:
    c = consent(chain, nonce=2)
    grant(chain, c)
    chain.reverts(
        "doctor_b",
        cm(chain).revoke(args(c)),
        "ConsentManagerNotPatient",
        caller=chain.addr("doctor_b"),
    )
    receipt = chain.send("patient", cm(chain).revoke(args(c)))
    ev = chain.one_event("ConsentManager", "ConsentRevoked", receipt)
    assert ev == {"consentId": consent_id(c), "patient": c.patient, "nonce": 0}
    assert cm(chain).isAllowed(c.patient, c.grantee, rid("a"), Purpose.REFERRAL).call() is False
    # the stored nonce stays: the signed consent cannot be relayed again
    chain.reverts(
        "relayer", cm(chain).grantBySig(args(c), signed(chain, c)), "ConsentManagerNonceUsed"
    )
    chain.reverts("patient", cm(chain).revoke(args(c)), "ConsentManagerUnknownConsent")


def test_record_scope_and_chart_scope_are_separate_keys(chain: Chain) -> None:
    chart = consent(chain, nonce=1)
    one = consent(chain, nonce=1, record_id=rid("r1"))
    grant(chain, chart)
    grant(chain, one)
    chain.send("relayer", revoke_call(chain, chart, revocation(chain, chart, nonce=2)))
    f = cm(chain)
    assert f.isAllowed(chart.patient, chart.grantee, rid("r1"), Purpose.REFERRAL).call() is True
    assert f.isAllowed(chart.patient, chart.grantee, rid("r2"), Purpose.REFERRAL).call() is False
    assert b32("x") != rid("r1")
