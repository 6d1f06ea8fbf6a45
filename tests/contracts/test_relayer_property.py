"""Property: no sequence of relayer-only calls — carrying no actor signature, garbage, the
relayer's or an outsider's own signature, the right actor's signature of another message, or
of this message in another domain — changes any record, consent, workflow or opening.

A world with a clinician's record, a patient's own record, a consent, a requested referral,
an open consultation and an open break-glass opening is set up once; hypothesis then draws
sequences of forged calls against every signed entry point, each sequence from the same
snapshot, and the whole observable state (every view of the five contracts) must be equal
before and after.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.signing import (
    HALF_ORDER,
    BreakGlassOpen,
    BreakGlassReview,
    Consent,
    Domain,
    Purpose,
    RecordBodyRekey,
    RecordRekey,
    RecordSupersede,
    RecordWithdraw,
    ReferralAction,
    ReferralRequest,
    ReferralStep,
    Revocation,
    TypedMessage,
    consent_id,
    sign,
)
from tests.contracts.helpers import FAR, Chain, args, b32, cid_for, register, registration
from tests.contracts.workflow_calls import (
    cancel,
    close,
    consult,
    consultation,
    opinion,
    refer,
)

KINDS = ("empty", "garbage", "relayer", "outsider", "other_message", "other_domain")
NEW = keccak(text="property: a fresh id")


def _world(chain: Chain) -> dict[str, Any]:
    """The objects the forged calls aim at (made with real signatures)."""
    w: dict[str, Any] = {
        "r1": register(chain, "prop-r1"),
        "r2": register(chain, "prop-r2", by="patient"),
        "ref": refer(chain, "prop"),
        "con": consult(chain, "prop"),
    }
    w["consent"] = Consent(
        patient=chain.addr("patient"),
        grantee=chain.addr("doctor_b"),
        purpose=Purpose.TREATMENT,
        expires_at=FAR,
        nonce=3,
    )
    cm = chain.c["ConsentManager"].functions
    consent_domain = Domain(
        chain_id=chain.w3.eth.chain_id, verifying_contract=chain.c["ConsentManager"].address
    )
    patient_key = chain.accounts["patient"].key
    chain.send(
        "relayer",
        cm.grantBySig(args(w["consent"]), sign(consent_domain, w["consent"], patient_key)),
    )
    opening = BreakGlassOpen(
        id=keccak(text="prop-open"),
        patient=chain.addr("patient2"),
        reason_hash=keccak(text="r"),
        window=86_400,
        deadline=FAR,
    )
    ea = chain.c["EmergencyAccess"].functions
    chain.send("relayer", ea.openBreakGlass(args(opening), chain.sig("doctor_a", opening), 0, b""))
    w["opening"] = opening.id
    return w


def _state(chain: Chain, w: dict[str, Any]) -> list[Any]:
    """Every view that a forged call could change."""
    reg = chain.c["RecordRegistry"].functions
    wf = chain.c["Workflow"].functions
    ea = chain.c["EmergencyAccess"].functions
    cm = chain.c["ConsentManager"].functions
    c = w["consent"]
    day = chain.now() // 86_400
    return [
        reg.recordOf(w["r1"]).call(),
        reg.recordOf(w["r2"]).call(),
        reg.exists(NEW).call(),
        cm.grantOf(*args(c)[:5]).call(),
        cm.grantOf(c.patient, chain.addr("doctor_a2"), bytes(32), bytes(32), 0).call(),
        wf.referralOf(w["ref"]).call(),
        wf.consultationOf(w["con"]).call(),
        wf.hasOpined(w["con"], chain.addr("doctor_b")).call(),
        wf.isInvited(NEW, 2).call(),
        _view(chain, wf.referralOf(NEW)),
        _view(chain, wf.consultationOf(NEW)),
        ea.openingOf(w["opening"]).call(),
        ea.openingOf(NEW).call(),
        ea.openingsOn(chain.addr("doctor_a"), day).call(),
        chain.c["AccessLog"].functions.currentEpoch().call(),
    ]


def _view(chain: Chain, call: Any) -> Any:
    """A view's answer, or the name of its revert (an unknown id)."""
    revert = chain.call_revert(chain.accounts["outsider"], call)
    return call.call() if revert is None else revert.name


def _mutated(message: TypedMessage) -> TypedMessage:
    """The same kind of message with one field changed (what the actor really signed)."""
    if hasattr(message, "deadline"):
        return dataclasses.replace(message, deadline=message.deadline - 1)  # type: ignore[type-var, attr-defined]
    return dataclasses.replace(message, nonce=message.nonce + 1)  # type: ignore[type-var, attr-defined]


def _forge(chain: Chain, message: TypedMessage, actor: str, kind: str, noise: bytes) -> bytes:
    contract = message.CONTRACT
    if kind == "empty":
        return b""
    if kind == "garbage":  # canonical-looking: low s, good v, recovers some stranger
        s = int.from_bytes(noise[32:64], "big") % HALF_ORDER
        return noise[:32] + s.to_bytes(32, "big") + bytes([27 + noise[64] % 2])
    if kind in ("relayer", "outsider"):
        return chain.sig(kind, message)
    if kind == "other_message":
        return chain.sig(actor, _mutated(message))
    domain = dataclasses.replace(chain.domain(contract), chain_id=chain.w3.eth.chain_id + 7)
    if contract == "ConsentManager":
        domain = dataclasses.replace(domain, name="MedLedger ConsentManager")
    return sign(domain, message, chain.accounts[actor].key)


Op = Callable[[Chain, dict[str, Any]], tuple[TypedMessage, str, Callable[[bytes], Any]]]


def _call(chain: Chain, message: TypedMessage, fn: str) -> Callable[[bytes], Any]:
    contract = chain.c[message.CONTRACT].functions
    return lambda sig: getattr(contract, fn)(args(message), sig)


def _ops() -> dict[str, Op]:
    def registry(message_of: Callable[[dict[str, Any]], TypedMessage], fn: str, actor: str) -> Op:
        return lambda chain, w: (m := message_of(w), actor, _call(chain, m, fn))

    def workflow(message_of: Callable[[Chain, dict[str, Any]], TypedMessage], actor: str) -> Op:
        return lambda chain, w: (m := message_of(chain, w), actor, signed_call(chain, m))

    def signed_call(chain: Chain, m: TypedMessage) -> Callable[[bytes], Any]:
        from tests.contracts.workflow_calls import FUNCTIONS

        return _call(chain, m, FUNCTIONS[m.primary_type()])

    def step(action: ReferralAction, argument: bytes = bytes(32)) -> Callable[..., TypedMessage]:
        return lambda chain, w: ReferralStep(
            referral_id=w["ref"], action=action, argument=argument, deadline=FAR
        )

    def grant(chain: Chain, w: dict[str, Any]):
        m = dataclasses.replace(w["consent"], grantee=chain.addr("doctor_a2"), nonce=5)
        return m, "patient", _call(chain, m, "grantBySig")

    def revoke(chain: Chain, w: dict[str, Any]):
        c = w["consent"]
        m = Revocation(patient=c.patient, consent_id=consent_id(c), nonce=9, deadline=FAR)
        cm = chain.c["ConsentManager"].functions
        return m, "patient", lambda sig: cm.revokeBySig(args(c), 9, FAR, sig)

    def open_new(chain: Chain, w: dict[str, Any]):
        m = BreakGlassOpen(
            id=NEW, patient=chain.addr("patient"), reason_hash=b32("r"), window=60, deadline=FAR
        )
        ea = chain.c["EmergencyAccess"].functions
        return m, "doctor_a", lambda sig: ea.openBreakGlass(args(m), sig, 0, b"")

    def review(chain: Chain, w: dict[str, Any]):
        m = BreakGlassReview(id=w["opening"], justified=False, note_hash=b32("n"), deadline=FAR)
        return m, "auditor_a", _call(chain, m, "review")

    def register_new(chain: Chain, w: dict[str, Any]):
        m = registration(NEW, chain.addr("patient"))
        return m, "doctor_a", _call(chain, m, "register")

    return {
        "register": register_new,
        "rekey": registry(
            lambda w: RecordRekey(
                id=w["r1"], version=1, header_cid=cid_for("x"), policy_hash=b32("x"), deadline=FAR
            ),
            "rekey",
            "patient",
        ),
        "rekeyBody": registry(
            lambda w: RecordBodyRekey(
                id=w["r1"],
                version=1,
                body_cid=cid_for("b"),
                header_cid=cid_for("h"),
                body_hash=b32("b"),
                policy_hash=b32("p"),
                deadline=FAR,
            ),
            "rekeyBody",
            "doctor_a",
        ),
        "supersede": registry(
            lambda w: RecordSupersede(id=w["r1"], new_id=w["r2"], deadline=FAR),
            "supersede",
            "patient",
        ),
        "withdraw": registry(
            lambda w: RecordWithdraw(id=w["r2"], reason_code=1, deadline=FAR),
            "withdraw",
            "patient",
        ),
        "grant": grant,
        "revoke": revoke,
        "requestReferral": workflow(
            lambda chain, w: ReferralRequest(
                referral_id=NEW, patient=chain.addr("patient"), to_institution=2, deadline=FAR
            ),
            "doctor_a",
        ),
        "accept": workflow(step(ReferralAction.ACCEPT), "doctor_b"),
        "reject": workflow(step(ReferralAction.REJECT, b32("no")), "doctor_b"),
        "cancelReferral": workflow(step(ReferralAction.CANCEL, b32("no")), "doctor_a"),
        "requestConsultation": workflow(lambda chain, w: consultation(chain, NEW), "doctor_a"),
        "opinion": workflow(lambda chain, w: opinion(w["con"], cid_for("o"), b32("o")), "doctor_b"),
        "close": workflow(lambda chain, w: close(w["con"], cid_for("c"), b32("c")), "doctor_a"),
        "cancelConsultation": workflow(lambda chain, w: cancel(w["con"]), "doctor_a"),
        "openBreakGlass": open_new,
        "review": review,
    }


OPS = _ops()
STEPS = st.lists(
    st.tuples(
        st.sampled_from(sorted(OPS)),
        st.sampled_from(KINDS),
        st.binary(min_size=65, max_size=65),
    ),
    min_size=1,
    max_size=6,
)


@pytest.fixture
def targets(chain: Chain) -> dict[str, Any]:
    """The world, built once per test (hypothesis runs every example on it, from a snapshot;
    the chain fixture rolls it all back afterwards)."""
    return _world(chain)


def test_every_operation_works_when_really_signed(chain: Chain, targets: dict[str, Any]) -> None:
    """The property below would hold vacuously if the operations were broken: each one,
    signed by its actor, does change the state."""
    w = targets
    for name in sorted(OPS):
        snap = chain.snapshot()
        before = _state(chain, w)
        message, actor, build = OPS[name](chain, w)
        if message.CONTRACT == "ConsentManager":
            domain = Domain(
                chain_id=chain.w3.eth.chain_id,
                verifying_contract=chain.c["ConsentManager"].address,
            )
            signature = sign(domain, message, chain.accounts[actor].key)
        else:
            signature = chain.sig(actor, message)
        chain.send("relayer", build(signature))
        assert _state(chain, w) != before, name
        chain.revert_to(snap)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_relayer_only_sequences_change_nothing(
    chain: Chain, targets: dict[str, Any], steps: list[Any]
) -> None:
    w = targets
    snap = chain.snapshot()
    try:
        before = _state(chain, w)
        for name, kind, noise in steps:
            message, actor, build = OPS[name](chain, w)
            receipt = chain.send_raw("relayer", build(_forge(chain, message, actor, kind, noise)))
            assert receipt["status"] == 0, (name, kind)
        assert _state(chain, w) == before
    finally:
        chain.revert_to(snap)
