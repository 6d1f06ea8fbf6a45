"""Signed Workflow calls for the contract tests: each builds the message, signs it as the
actor (or leaves the signature empty for a direct call) and returns the contract call."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak

from crypto.signing import (
    ConsultationCancel,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    ReferralAction,
    ReferralRequest,
    ReferralStep,
    TypedMessage,
)
from tests.contracts.helpers import FAR, Chain, args, b32, register

ZERO32 = b"\x00" * 32
ZERO = "0x" + "00" * 20
REQUESTED, ACCEPTED, ARRIVED, COMPLETED, REJECTED, CANCELLED = 1, 2, 3, 4, 5, 6
OPEN, CLOSED, C_CANCELLED = 1, 2, 3
ACCEPT, REJECT, ARRIVE, COMPLETE, CANCEL = (int(a) for a in ReferralAction)
FUNCTIONS = {
    "ReferralRequest": "requestReferral",
    "ReferralStep": "stepReferral",
    "ConsultationRequest": "requestConsultation",
    "ConsultationOpinion": "submitOpinion",
    "ConsultationClose": "closeConsultation",
    "ConsultationCancel": "cancelConsultation",
}


def wf(chain: Chain):
    return chain.c["Workflow"].functions


def signed(chain: Chain, message: TypedMessage, signer: str | None) -> Any:
    """The Workflow call carrying ``message`` signed by ``signer`` (None: no signature)."""
    signature = chain.sig(signer, message) if signer else b""
    return getattr(wf(chain), FUNCTIONS[message.primary_type()])(args(message), signature)


def request(
    chain: Chain,
    ref_id: bytes,
    signer: str | None = "doctor_a",
    *,
    patient: str = "patient",
    to: int = 2,
    record_id: bytes = ZERO32,
    reason: bytes = ZERO32,
) -> Any:
    message = ReferralRequest(
        referral_id=ref_id,
        patient=chain.addr(patient) if patient in chain.accounts else patient,
        to_institution=to,
        record_id=record_id,
        reason=reason,
        deadline=FAR,
    )
    return signed(chain, message, signer)


def step(
    chain: Chain,
    ref_id: bytes,
    action: int,
    signer: str | None = "doctor_b",
    argument: bytes = ZERO32,
    *,
    deadline: int = FAR,
) -> Any:
    message = ReferralStep(referral_id=ref_id, action=action, argument=argument, deadline=deadline)
    return signed(chain, message, signer)


def refer(chain: Chain, label: str = "ref", *, record_id: bytes = ZERO32) -> bytes:
    """A Requested referral from doctor_a (institution 1) to institution 2."""
    ref_id = keccak(text="referral:" + label)
    chain.send("relayer", request(chain, ref_id, record_id=record_id, reason=b32("chest pain")))
    return ref_id


def consultation(
    chain: Chain,
    con_id: bytes,
    *,
    patient: str = "patient",
    record_id: bytes = ZERO32,
    invited: tuple[int, ...] = (2,),
    policy: bytes = ZERO32,
    closes_at: int | None = None,
) -> ConsultationRequest:
    return ConsultationRequest(
        consultation_id=con_id,
        patient=chain.addr(patient) if patient in chain.accounts else patient,
        record_id=record_id,
        invited_institutions=invited,
        policy_hash=policy,
        closes_at=closes_at if closes_at is not None else chain.now() + 3600,
        deadline=FAR,
    )


def consult(
    chain: Chain,
    label: str = "con",
    *,
    invited: tuple[int, ...] = (2,),
    policy: bytes = ZERO32,
    closes_at: int | None = None,
) -> bytes:
    """An Open consultation requested by doctor_a."""
    con_id = keccak(text="consultation:" + label)
    message = consultation(chain, con_id, invited=invited, policy=policy, closes_at=closes_at)
    chain.send("relayer", signed(chain, message, "doctor_a"))
    return con_id


def opinion(con_id: bytes, cid: str, digest: bytes) -> ConsultationOpinion:
    return ConsultationOpinion(
        consultation_id=con_id, opinion_cid=cid, opinion_hash=digest, deadline=FAR
    )


def close(con_id: bytes, cid: str, digest: bytes) -> ConsultationClose:
    return ConsultationClose(
        consultation_id=con_id, conclusion_cid=cid, conclusion_hash=digest, deadline=FAR
    )


def cancel(con_id: bytes, reason: bytes = ZERO32) -> ConsultationCancel:
    return ConsultationCancel(consultation_id=con_id, reason=reason, deadline=FAR)


def record(chain: Chain, label: str, patient: str = "patient", by: str = "doctor_a") -> bytes:
    return register(chain, label, by=by, patient=patient)
