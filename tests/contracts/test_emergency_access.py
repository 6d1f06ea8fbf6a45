"""EmergencyAccess: relayer-only openings by active doctors, bounded windows, co-signatures
(EIP-712 from ``crypto/signing.py``, checked on chain), reviews by active auditors only."""

from __future__ import annotations

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from crypto.signing import (
    COSIGN_DOMAIN_NAME,
    COSIGN_TYPES,
    BreakGlassCosign,
    cosign_domain,
    cosign_typed_data,
    sign_cosign,
)
from tests.contracts.helpers import Chain, same

ZERO = "0x" + "00" * 20
REASON = keccak(text="unconscious on arrival, no relative reachable")
HOURS_4 = 4 * 3600


def ea(chain: Chain):
    return chain.c["EmergencyAccess"].functions


def oid(label: str) -> bytes:
    return keccak(text="opening:" + label)


def cosign(
    chain: Chain, signer: LocalAccount, clinician: str, patient: str, deadline: int
) -> bytes:
    domain = cosign_domain(
        chain_id=chain.w3.eth.chain_id, verifying_contract=chain.c["EmergencyAccess"].address
    )
    item = BreakGlassCosign(
        clinician=clinician, patient=patient, reason_hash=REASON, deadline=deadline
    )
    return sign_cosign(domain, item, signer.key)


def open_call(chain: Chain, actor: str, label: str, **kw):
    return ea(chain).openBreakGlass(
        chain.addr(actor),
        oid(label),
        kw.get("patient", chain.addr("patient")),
        kw.get("reason", REASON),
        kw.get("window", HOURS_4),
        kw.get("co_signer", ZERO),
        kw.get("deadline", 0),
        kw.get("signature", b""),
    )


def test_open_and_review_are_events_and_state(chain: Chain) -> None:
    receipt = chain.send("relayer", open_call(chain, "doctor_a", "o1"))
    ev = chain.one_event("EmergencyAccess", "BreakGlassOpened", receipt)
    block_time = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert ev["id"] == oid("o1")
    assert same(ev["clinician"], chain.addr("doctor_a"))
    assert same(ev["patient"], chain.addr("patient"))
    assert ev["reasonHash"] == REASON
    assert same(ev["coSigner"], ZERO)
    assert ev["expiresAt"] == block_time + HOURS_4
    assert ea(chain).isOpen(oid("o1")).call() is True
    assert ea(chain).openingsOn(chain.addr("doctor_a"), block_time // 86400).call() == 1

    note = keccak(text="cardiac arrest documented")
    receipt = chain.send(
        "relayer", ea(chain).review(chain.addr("auditor_a"), oid("o1"), True, note)
    )
    rev = chain.one_event("EmergencyAccess", "BreakGlassReviewed", receipt)
    assert rev == {
        "id": oid("o1"),
        "auditor": chain.addr("auditor_a"),
        "justified": True,
        "noteHash": note,
    }
    clinician, patient, _, reviewed, justified = ea(chain).openingOf(oid("o1")).call()
    assert (reviewed, justified) == (True, True)
    assert same(clinician, chain.addr("doctor_a"))
    assert same(patient, chain.addr("patient"))
    chain.reverts(
        "relayer",
        ea(chain).review(chain.addr("auditor_a"), oid("o1"), False, note),
        "EmergencyAccessAlreadyReviewed",
    )


def test_window_ends_with_chain_time(chain: Chain) -> None:
    receipt = chain.send("relayer", open_call(chain, "doctor_a", "o2", window=60))
    expires = chain.one_event("EmergencyAccess", "BreakGlassOpened", receipt)["expiresAt"]
    chain.mine(expires)
    assert ea(chain).isOpen(oid("o2")).call() is False


def test_only_the_relayer_for_an_active_doctor(chain: Chain) -> None:
    for caller in ("doctor_a", "admin", "auditor_a"):
        chain.reverts(caller, open_call(chain, "doctor_a", "x"), "EmergencyAccessUnauthorizedRelay")
    for actor in ("nurse_a", "auditor_a", "patient2", "key_authority"):
        chain.reverts(
            "relayer",
            open_call(chain, actor, "x"),
            "EmergencyAccessUnauthorized",
            actor=chain.addr(actor),
        )
    # a suspended doctor may not break the glass
    con = chain.c["Consortium"].functions
    chain.send("inst_b_admin", con.suspendMember(chain.addr("doctor_b")))
    chain.reverts("relayer", open_call(chain, "doctor_b", "x"), "EmergencyAccessUnauthorized")
    # reviews: auditors only
    chain.send("relayer", open_call(chain, "doctor_a", "o3"))
    chain.reverts(
        "relayer",
        ea(chain).review(chain.addr("doctor_a2"), oid("o3"), True, REASON),
        "EmergencyAccessUnauthorized",
    )
    chain.reverts(
        "relayer",
        ea(chain).review(chain.addr("auditor_a"), oid("nope"), True, REASON),
        "EmergencyAccessUnknownId",
    )


def test_input_checks(chain: Chain) -> None:
    chain.send("relayer", open_call(chain, "doctor_a", "dup"))
    chain.reverts("relayer", open_call(chain, "doctor_a", "dup"), "EmergencyAccessDuplicateId")
    chain.reverts(
        "relayer",
        open_call(chain, "doctor_a", "w", window=24 * 3600 + 1),
        "EmergencyAccessInvalidWindow",
    )
    chain.reverts(
        "relayer", open_call(chain, "doctor_a", "w", window=0), "EmergencyAccessInvalidWindow"
    )
    chain.reverts(
        "relayer", open_call(chain, "doctor_a", "r", reason=bytes(32)), "EmergencyAccessEmptyReason"
    )
    chain.reverts(
        "relayer",
        open_call(chain, "doctor_a", "p", patient=chain.addr("doctor_a")),
        "EmergencyAccessInvalidPatient",
    )


def test_cosignature_checked_on_chain(chain: Chain) -> None:
    clinician, patient = chain.addr("doctor_a"), chain.addr("patient")
    deadline = chain.now() + 600
    good = cosign(chain, chain.accounts["doctor_b"], clinician, patient, deadline)
    receipt = chain.send(
        "relayer",
        open_call(
            chain,
            "doctor_a",
            "c1",
            co_signer=chain.addr("doctor_b"),
            deadline=deadline,
            signature=good,
        ),
    )
    ev = chain.one_event("EmergencyAccess", "BreakGlassOpened", receipt)
    assert same(ev["coSigner"], chain.addr("doctor_b"))
    # self co-signature, a nurse's, a signature by someone else, an expired one: refused
    own = cosign(chain, chain.accounts["doctor_a"], clinician, patient, deadline)
    chain.reverts(
        "relayer",
        open_call(chain, "doctor_a", "c2", co_signer=clinician, deadline=deadline, signature=own),
        "EmergencyAccessInvalidCosignature",
    )
    nurse = cosign(chain, chain.accounts["nurse_a"], clinician, patient, deadline)
    chain.reverts(
        "relayer",
        open_call(
            chain,
            "doctor_a",
            "c3",
            co_signer=chain.addr("nurse_a"),
            deadline=deadline,
            signature=nurse,
        ),
        "EmergencyAccessInvalidCosignature",
    )
    chain.reverts(
        "relayer",
        open_call(
            chain,
            "doctor_a",
            "c4",
            co_signer=chain.addr("doctor_a2"),
            deadline=deadline,
            signature=good,
        ),
        "EmergencyAccessInvalidCosignature",
    )
    other_patient = cosign(
        chain, chain.accounts["doctor_b"], clinician, chain.addr("patient2"), deadline
    )
    chain.reverts(
        "relayer",
        open_call(
            chain,
            "doctor_a",
            "c5",
            co_signer=chain.addr("doctor_b"),
            deadline=deadline,
            signature=other_patient,
        ),
        "EmergencyAccessInvalidCosignature",
    )
    past = chain.now() - 1
    stale = cosign(chain, chain.accounts["doctor_b"], clinician, patient, past)
    chain.reverts(
        "relayer",
        open_call(
            chain,
            "doctor_a",
            "c6",
            co_signer=chain.addr("doctor_b"),
            deadline=past,
            signature=stale,
        ),
        "EmergencyAccessCosignatureExpired",
    )
    chain.reverts(
        "relayer",
        open_call(chain, "doctor_a", "c7", signature=good),
        "EmergencyAccessInvalidCosignature",
    )


def test_python_and_solidity_agree_on_the_cosign_type(chain: Chain) -> None:
    """``crypto/signing.py`` is the one definition: its type string, domain and digest are the
    contract's, byte for byte."""
    fields = ",".join(f"{f['type']} {f['name']}" for f in COSIGN_TYPES["BreakGlassCosign"])
    assert ea(chain).COSIGN_TYPEHASH().call() == keccak(text=f"BreakGlassCosign({fields})")
    assert ea(chain).NAME().call() == COSIGN_DOMAIN_NAME
    domain = cosign_domain(
        chain_id=chain.w3.eth.chain_id, verifying_contract=chain.c["EmergencyAccess"].address
    )
    item = BreakGlassCosign(
        clinician=chain.addr("doctor_a"),
        patient=chain.addr("patient"),
        reason_hash=REASON,
        deadline=1234,
    )
    signable = encode_typed_data(full_message=cosign_typed_data(domain, item))
    digest = keccak(b"\x19\x01" + signable.header + signable.body)
    onchain = ea(chain).cosignDigest(chain.addr("doctor_a"), chain.addr("patient"), REASON, 1234)
    assert onchain.call() == digest
