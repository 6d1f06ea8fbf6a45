"""The workflow messages the SDK signs: referral and consultation requests and steps.

``Workflow`` recovers each step's actor from an EIP-712 signature (:mod:`crypto.signing.workflow`),
and the API rebuilds the message from the request it receives, so the client must compute the
very same values the API computes: the receiving institution's id (not its code), the
normalized department, the referral's manifest digest over every record carried and every
consent sent (:func:`crypto.signing.referral_manifest`), the reason code's ``bytes32``
(:func:`crypto.signing.reason_code`), the invited institutions ascending without repeats, the
invited policy's hash, and, for an opinion or a conclusion, the CID and SHA-256 of the
record's current body as the chain has it (read from a chain node, not from the API).

What goes on the wire is :func:`signed_json`: the signature and its deadline; the rest of the
message is the request itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from clients.sdk import consent_messages as consent_tools
from clients.sdk.errors import ClientError
from clients.sdk.signed import deadline
from crypto.errors import PolicyError, SigningError
from crypto.policy import normalize, normalize_attribute, policy_hash
from crypto.signing import (
    ZERO_BYTES32,
    ConsultationCancel,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    ReferralAction,
    ReferralRequest,
    ReferralStep,
    consent_id,
    reason_code,
    referral_manifest,
)

__all__ = [
    "consultation_cancel",
    "consultation_close",
    "consultation_opinion",
    "consultation_request",
    "department_value",
    "reason_bytes",
    "referral_request",
    "referral_step",
    "signed_json",
]


def signed_json(signature: bytes, signed_deadline: int) -> dict[str, Any]:
    """The request's ``signed`` field."""
    return {"signature": "0x" + signature.hex(), "deadline": signed_deadline}


def reason_bytes(reason: str | None) -> bytes:
    """A reason code as the ``bytes32`` the step signs (≤ 32 UTF-8 bytes)."""
    try:
        return reason_code(reason)
    except SigningError as exc:
        raise ClientError(f"invalid reason {reason!r}: {exc}") from None


def department_value(department: str) -> str:
    """The department as the API normalizes it (the value of a ``dept:`` attribute)."""
    try:
        return normalize_attribute(f"dept:{department}").split(":", 1)[1]
    except PolicyError as exc:
        raise ClientError(f"invalid department {department!r}: {exc}") from None


def _b32(value: str, what: str) -> bytes:
    return consent_tools.bytes32(value, what)


def referral_request(
    *,
    referral_id: str,
    patient: str,
    to_institution: int,
    department: str,
    urgency: str,
    reason_record_id: str,
    record_ids: Sequence[str],
    consents: Iterable[dict[str, Any]],
) -> ReferralRequest:
    """The referral request the requesting doctor signs (``consents``: the bodies sent)."""
    carried = list(dict.fromkeys([reason_record_id, *record_ids]))
    try:
        consent_ids = [
            "0x" + consent_id(consent_tools.consent_from_json(c["consent"])).hex() for c in consents
        ]
    except (KeyError, TypeError, SigningError) as exc:
        raise ClientError(f"a consent to send is malformed: {exc}") from None
    return ReferralRequest(
        referral_id=_b32(referral_id, "referral_id"),
        patient=patient,
        to_institution=to_institution,
        record_id=_b32(reason_record_id, "reason_record_id"),
        reason=referral_manifest(
            department=department_value(department),
            urgency=urgency,
            record_ids=carried,
            consent_ids=consent_ids,
        ),
        deadline=deadline(),
    )


def referral_step(
    referral_id: str, action: str, *, reason: str | None = None, summary: str | None = None
) -> ReferralStep:
    """accept, reject, arrive, complete (with the summary record id) or cancel."""
    argument = ZERO_BYTES32
    if action == "complete":
        argument = _b32(summary or "", "summary_record_id")
    elif action in ("reject", "cancel"):
        argument = reason_bytes(reason)
    return ReferralStep(
        referral_id=_b32(referral_id, "referral_id"),
        action=ReferralAction[action.upper()],
        argument=argument,
        deadline=deadline(),
    )


def consultation_request(
    *,
    consultation_id: str,
    patient: str,
    question_record_id: str,
    invited_institutions: Iterable[int],
    invited_policy: str | None,
    closes_at: int,
) -> ConsultationRequest:
    """The consultation request the requesting doctor signs."""
    digest = ZERO_BYTES32
    if invited_policy:
        try:
            digest = policy_hash(normalize(invited_policy))
        except PolicyError as exc:
            raise ClientError(f"invalid invited policy: {exc}") from None
    return ConsultationRequest(
        consultation_id=_b32(consultation_id, "consultation_id"),
        patient=patient,
        record_id=_b32(question_record_id, "question_record_id"),
        invited_institutions=tuple(sorted(set(invited_institutions))),
        policy_hash=digest,
        closes_at=closes_at,
        deadline=deadline(),
    )


def consultation_opinion(
    consultation_id: str, body_cid: str, body_sha256: str
) -> ConsultationOpinion:
    return ConsultationOpinion(
        consultation_id=_b32(consultation_id, "consultation_id"),
        opinion_cid=body_cid,
        opinion_hash=_b32(body_sha256, "body_sha256"),
        deadline=deadline(),
    )


def consultation_close(consultation_id: str, body_cid: str, body_sha256: str) -> ConsultationClose:
    return ConsultationClose(
        consultation_id=_b32(consultation_id, "consultation_id"),
        conclusion_cid=body_cid,
        conclusion_hash=_b32(body_sha256, "body_sha256"),
        deadline=deadline(),
    )


def consultation_cancel(consultation_id: str, reason: str | None) -> ConsultationCancel:
    return ConsultationCancel(
        consultation_id=_b32(consultation_id, "consultation_id"),
        reason=reason_bytes(reason),
        deadline=deadline(),
    )
