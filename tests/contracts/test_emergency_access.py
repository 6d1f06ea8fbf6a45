"""EmergencyAccess: openings signed by an active doctor, bounded windows, the daily cap and
co-signatures (bound to one opening, at most an hour ahead) enforced on chain, reviews signed
by active auditors once."""

from __future__ import annotations

import dataclasses

from eth_utils import keccak

from crypto.signing import BreakGlassCosign, BreakGlassOpen, BreakGlassReview
from tests.contracts.helpers import FAR, Chain, args, same

ZERO = "0x" + "00" * 20
REASON = keccak(text="unconscious on arrival, no relative reachable")
HOURS_4 = 4 * 3600
NOON = 1_893_499_200  # 2030-01-01 12:00 UTC: openings of one test fall on one UTC day


def ea(chain: Chain):
    return chain.c["EmergencyAccess"].functions


def oid(label: str) -> bytes:
    return keccak(text="opening:" + label)


def opening(chain: Chain, label: str, **changes: object) -> BreakGlassOpen:
    base = BreakGlassOpen(
        id=oid(label),
        patient=chain.addr("patient"),
        reason_hash=REASON,
        window=HOURS_4,
        deadline=FAR,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def cosign_for(
    chain: Chain, o: BreakGlassOpen, opener: str, *, deadline: int | None = None
) -> BreakGlassCosign:
    return BreakGlassCosign(
        opening_id=o.id,
        clinician=chain.addr(opener),
        patient=o.patient,
        reason_hash=o.reason_hash,
        deadline=chain.now() + 600 if deadline is None else deadline,
    )


def open_call(
    chain: Chain,
    o: BreakGlassOpen,
    opener: str | None = "doctor_a",
    cosign: BreakGlassCosign | None = None,
    cosigner: str = "doctor_b",
):
    signature = chain.sig(opener, o) if opener else b""
    if cosign is None:
        return ea(chain).openBreakGlass(args(o), signature, 0, b"")
    return ea(chain).openBreakGlass(
        args(o), signature, cosign.deadline, chain.sig(cosigner, cosign)
    )


def review_call(chain: Chain, r: BreakGlassReview, auditor: str | None = "auditor_a"):
    return ea(chain).review(args(r), chain.sig(auditor, r) if auditor else b"")


def at_noon(chain: Chain) -> None:
    chain.mine(max(NOON, chain.now() + 1))


def test_open_and_review_are_events_and_state(chain: Chain) -> None:
    o = opening(chain, "o1")
    receipt = chain.send("relayer", open_call(chain, o))
    ev = chain.one_event("EmergencyAccess", "BreakGlassOpened", receipt)
    block_time = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert ev == {
        "id": o.id,
        "clinician": chain.addr("doctor_a"),
        "patient": chain.addr("patient"),
        "reasonHash": REASON,
        "coSigner": ZERO,
        "expiresAt": block_time + HOURS_4,
    }
    assert ea(chain).isOpen(o.id).call() is True
    assert ea(chain).openingsOn(chain.addr("doctor_a"), block_time // 86400).call() == 1

    note = keccak(text="cardiac arrest documented")
    r = BreakGlassReview(id=o.id, justified=True, note_hash=note, deadline=FAR)
    receipt = chain.send("relayer", review_call(chain, r))
    assert chain.one_event("EmergencyAccess", "BreakGlassReviewed", receipt) == {
        "id": o.id,
        "auditor": chain.addr("auditor_a"),
        "justified": True,
        "noteHash": note,
    }
    clinician, patient, _, reviewed, justified = ea(chain).openingOf(o.id).call()
    assert (reviewed, justified) == (True, True)
    assert same(clinician, chain.addr("doctor_a"))
    assert same(patient, chain.addr("patient"))
    again = dataclasses.replace(r, justified=False)
    chain.reverts("relayer", review_call(chain, again), "EmergencyAccessAlreadyReviewed")


def test_direct_calls_need_no_signature(chain: Chain) -> None:
    o = opening(chain, "direct")
    receipt = chain.send("doctor_a", open_call(chain, o, opener=None))
    assert same(
        chain.one_event("EmergencyAccess", "BreakGlassOpened", receipt)["clinician"],
        chain.addr("doctor_a"),
    )
    r = BreakGlassReview(id=o.id, justified=False, note_hash=REASON, deadline=FAR)
    chain.send("auditor_a", review_call(chain, r, auditor=None))
    assert ea(chain).openingOf(o.id).call()[3:] == [True, False]


def test_struct_hashes_and_domain_match_python(chain: Chain) -> None:
    o = opening(chain, "h")
    c = cosign_for(chain, o, "doctor_a", deadline=1234)
    r = BreakGlassReview(id=o.id, justified=True, note_hash=REASON, deadline=99)
    assert ea(chain).hashBreakGlassOpen(args(o)).call() == o.struct_hash()
    assert ea(chain).hashBreakGlassCosign(*args(c)).call() == c.struct_hash()
    assert ea(chain).hashBreakGlassReview(args(r)).call() == r.struct_hash()
    for name, message in (("OPEN", o), ("COSIGN", c), ("REVIEW", r)):
        assert getattr(ea(chain), f"{name}_TYPEHASH")().call() == message.type_hash()
    assert ea(chain).eip712Domain().call()[1] == "MedLedger EmergencyAccess"


def test_constructor_rejects_a_zero_register(chain: Chain) -> None:
    assert chain.constructor_revert("EmergencyAccess", ZERO).name == "EmergencyAccessUnauthorized"


def test_window_ends_with_chain_time(chain: Chain) -> None:
    receipt = chain.send("relayer", open_call(chain, opening(chain, "o2", window=60)))
    expires = chain.one_event("EmergencyAccess", "BreakGlassOpened", receipt)["expiresAt"]
    chain.mine(expires)
    assert ea(chain).isOpen(oid("o2")).call() is False


def test_only_relayers_carry_and_only_active_doctors_open(chain: Chain) -> None:
    o = opening(chain, "x")
    for caller in ("doctor_b", "admin", "auditor_a"):
        chain.reverts(caller, open_call(chain, o), "EmergencyAccessUnauthorizedRelay")
    for actor in ("nurse_a", "auditor_a", "patient2", "key_authority", "relayer"):
        chain.reverts(
            "relayer",
            open_call(chain, o, actor),
            "EmergencyAccessUnauthorized",
            actor=chain.addr(actor),
        )
    chain.reverts("relayer", open_call(chain, o, None), "EmergencyAccessUnauthorized")
    con = chain.c["Consortium"].functions
    chain.send("inst_b_admin", con.suspendMember(chain.addr("doctor_b")))
    chain.reverts("relayer", open_call(chain, o, "doctor_b"), "EmergencyAccessUnauthorized")
    # reviews: active auditors only, of known openings
    chain.send("relayer", open_call(chain, opening(chain, "o3")))
    r = BreakGlassReview(id=oid("o3"), justified=True, note_hash=REASON, deadline=FAR)
    for who in ("doctor_a2", "relayer"):
        chain.reverts("relayer", review_call(chain, r, who), "EmergencyAccessUnauthorized")
    unknown = dataclasses.replace(r, id=oid("nope"))
    chain.reverts("relayer", review_call(chain, unknown), "EmergencyAccessUnknownId")


def test_input_checks(chain: Chain) -> None:
    chain.send("relayer", open_call(chain, opening(chain, "dup")))
    chain.reverts("relayer", open_call(chain, opening(chain, "dup")), "EmergencyAccessDuplicateId")
    for window in (24 * 3600 + 1, 0):
        chain.reverts(
            "relayer",
            open_call(chain, opening(chain, "w", window=window)),
            "EmergencyAccessInvalidWindow",
            window=window,
        )
    chain.reverts(
        "relayer",
        open_call(chain, opening(chain, "r", reason_hash=bytes(32))),
        "EmergencyAccessEmptyReason",
    )
    for patient in (chain.addr("doctor_a"), ZERO):
        chain.reverts(
            "relayer",
            open_call(chain, opening(chain, "p", patient=patient)),
            "EmergencyAccessInvalidPatient",
        )


def test_daily_cap_then_cosignature(chain: Chain) -> None:
    at_noon(chain)
    assert ea(chain).dailyCap().call() == 3
    for i in range(3):
        chain.send("relayer", open_call(chain, opening(chain, f"cap{i}")))
    fourth = opening(chain, "cap3")
    chain.reverts(
        "relayer",
        open_call(chain, fourth),
        "EmergencyAccessCapReached",
        clinician=chain.addr("doctor_a"),
        openings=3,
        cap=3,
    )
    receipt = chain.send(
        "relayer", open_call(chain, fourth, cosign=cosign_for(chain, fourth, "doctor_a"))
    )
    assert same(
        chain.one_event("EmergencyAccess", "BreakGlassOpened", receipt)["coSigner"],
        chain.addr("doctor_b"),
    )
    day = chain.now() // 86400
    assert ea(chain).openingsOn(chain.addr("doctor_a"), day).call() == 4
    # another clinician has a cap of its own; the next UTC day starts again
    chain.send("relayer", open_call(chain, opening(chain, "other"), "doctor_a2"))
    chain.mine((day + 1) * 86400 + 60)
    chain.send("relayer", open_call(chain, opening(chain, "tomorrow")))


def test_cap_is_set_by_the_consortium_admin(chain: Chain) -> None:
    receipt = chain.send("admin", ea(chain).setDailyCap(0))
    assert chain.one_event("EmergencyAccess", "DailyCapChanged", receipt) == {
        "previousCap": 3,
        "newCap": 0,
    }
    chain.reverts("relayer", open_call(chain, opening(chain, "z")), "EmergencyAccessCapReached")
    for who in ("relayer", "inst_a_admin", "doctor_a", "auditor_a"):
        chain.reverts(
            who, ea(chain).setDailyCap(10), "EmergencyAccessUnauthorized", actor=chain.addr(who)
        )


def test_cosignature_checked_on_chain(chain: Chain) -> None:
    chain.send("admin", ea(chain).setDailyCap(0))  # every opening needs a co-signature
    o = opening(chain, "c1")
    good = cosign_for(chain, o, "doctor_a")
    chain.send("relayer", open_call(chain, o, cosign=good))
    # self co-signature, a nurse's, a suspended doctor's: refused
    for label, signer in (("c2", "doctor_a"), ("c3", "nurse_a"), ("c4", "auditor_a")):
        o2 = opening(chain, label)
        chain.reverts(
            "relayer",
            open_call(chain, o2, cosign=cosign_for(chain, o2, "doctor_a"), cosigner=signer),
            "EmergencyAccessInvalidCosignature",
            coSigner=chain.addr(signer),
        )
    # bound to its opening: another patient, reason or opener recovers someone else
    o5 = opening(chain, "c5")
    for changes in (
        {"patient": chain.addr("patient2")},
        {"reason_hash": keccak(text="other")},
        {"clinician": chain.addr("doctor_a2")},
    ):
        wrong = dataclasses.replace(cosign_for(chain, o5, "doctor_a"), **changes)  # type: ignore[arg-type]
        chain.reverts(
            "relayer", open_call(chain, o5, cosign=wrong), "EmergencyAccessInvalidCosignature"
        )
    # malformed co-signature bytes
    call = ea(chain).openBreakGlass(
        args(o5), chain.sig("doctor_a", o5), chain.now() + 60, b"\x01" * 65
    )
    chain.reverts("relayer", call, "EmergencyAccessInvalidCosignature", coSigner=ZERO)


def test_cosignature_deadline_bounds(chain: Chain) -> None:
    chain.send("admin", ea(chain).setDailyCap(0))
    o = opening(chain, "d1")
    past = cosign_for(chain, o, "doctor_a", deadline=chain.now() - 1)
    chain.reverts("relayer", open_call(chain, o, cosign=past), "EmergencyAccessCosignatureExpired")
    chain.set_next_timestamp(chain.now() + 5)
    next_block = chain.now() + 5
    far = cosign_for(chain, o, "doctor_a", deadline=next_block + 3600 + 1)
    chain.reverts(
        "relayer",
        open_call(chain, o, cosign=far),
        "EmergencyAccessCosignatureTooLong",
        deadline=next_block + 3601,
    )
    chain.set_next_timestamp(next_block + 1)
    hour = cosign_for(chain, o, "doctor_a", deadline=next_block + 1 + 3600)  # exactly an hour
    chain.send("relayer", open_call(chain, o, cosign=hour))


def test_a_cosignature_is_used_once(chain: Chain) -> None:
    """Issue attack 3: one co-signature opened the same chart again and again."""
    chain.send("admin", ea(chain).setDailyCap(0))
    first = opening(chain, "first")
    c = cosign_for(chain, first, "doctor_a")
    signature = chain.sig("doctor_b", c)
    chain.send(
        "relayer",
        ea(chain).openBreakGlass(args(first), chain.sig("doctor_a", first), c.deadline, signature),
    )
    second = opening(chain, "second")  # same patient, same reason, new id
    chain.reverts(
        "relayer",
        ea(chain).openBreakGlass(
            args(second), chain.sig("doctor_a", second), c.deadline, signature
        ),
        "EmergencyAccessInvalidCosignature",
    )
    chain.reverts(  # and the first opening cannot be made twice
        "relayer",
        ea(chain).openBreakGlass(args(first), chain.sig("doctor_a", first), c.deadline, signature),
        "EmergencyAccessDuplicateId",
    )
