"""Typed wrapper of ``Workflow``: two-way referrals (双向转诊) and remote consultations (远程会诊).

Every transition is a message signed by the clinician acting (:mod:`crypto.signing.workflow`):
the contract recovers the actor and checks their role and institution, so the relayer carrying
it can move nothing on its own; an empty signature means the sender is the actor. Reasons are
``bytes32`` codes or digests chosen by the client (free text belongs in a record).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from crypto.signing import (
    ConsultationCancel,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    ReferralRequest,
    ReferralStep,
)
from ledger_api.chain.contract import (
    PendingTx,
    SignedContract,
    check_actor_signature,
    check_address,
    check_bytes32,
    check_uint,
    message_args,
)
from ledger_api.chain.errors import InvalidChainInputError

MAX_INVITED = 16
NO_REASON = b"\x00" * 32


class ReferralStatus(IntEnum):
    NONE = 0
    REQUESTED = 1
    ACCEPTED = 2
    ARRIVED = 3
    COMPLETED = 4
    REJECTED = 5
    CANCELLED = 6


class ConsultationStatus(IntEnum):
    NONE = 0
    OPEN = 1
    CLOSED = 2
    CANCELLED = 3


@dataclass(frozen=True)
class ReferralInfo:
    patient: str
    from_institution: int
    to_institution: int
    status: ReferralStatus
    requester: str
    record_id: bytes
    summary_record_id: bytes
    accepted_at: int


@dataclass(frozen=True)
class ConsultationInfo:
    patient: str
    requester_institution: int
    status: ConsultationStatus
    deadline: int
    opinion_count: int
    requester: str
    record_id: bytes
    policy_hash: bytes


class Workflow(SignedContract):
    NAME = "Workflow"

    # -- referrals ------------------------------------------------------------------------

    def request_referral(self, message: ReferralRequest, signature: bytes) -> PendingTx:
        """Emits ``ReferralRequested`` with the signer as requester."""
        return self._send_signed("requestReferral", message, signature)

    def step_referral(self, message: ReferralStep, signature: bytes) -> PendingTx:
        """Accept, reject, arrive, complete or cancel (``message.action``); emits
        ``ReferralAccepted`` … ``ReferralCancelled`` with the signer as actor."""
        return self._send_signed("stepReferral", message, signature)

    # -- consultations --------------------------------------------------------------------

    def request_consultation(self, message: ConsultationRequest, signature: bytes) -> PendingTx:
        """Invite institutions (at most 16), or open it to an attribute policy, or both."""
        args = message_args(message)  # every field checked first
        invited = message.invited_institutions
        if len(invited) > MAX_INVITED or (not invited and message.policy_hash == NO_REASON):
            raise InvalidChainInputError(
                f"invite 1 to {MAX_INVITED} institutions (or none with a policy hash), "
                f"got {len(invited)}"
            )
        return self._write("requestConsultation", args, check_actor_signature(signature))

    def submit_opinion(self, message: ConsultationOpinion, signature: bytes) -> PendingTx:
        return self._send_signed("submitOpinion", message, signature)

    def close_consultation(self, message: ConsultationClose, signature: bytes) -> PendingTx:
        return self._send_signed("closeConsultation", message, signature)

    def cancel_consultation(self, message: ConsultationCancel, signature: bytes) -> PendingTx:
        return self._send_signed("cancelConsultation", message, signature)

    # -- views ----------------------------------------------------------------------------

    def referral_of(self, referral_id: bytes) -> ReferralInfo:
        patient, src, dst, status, requester, record_id, summary, accepted_at = self._read(
            "referralOf", check_bytes32(referral_id, "referral_id")
        )
        return ReferralInfo(
            patient=patient,
            from_institution=src,
            to_institution=dst,
            status=ReferralStatus(status),
            requester=requester,
            record_id=bytes(record_id),
            summary_record_id=bytes(summary),
            accepted_at=int(accepted_at),
        )

    def consultation_of(self, consultation_id: bytes) -> ConsultationInfo:
        patient, inst, status, deadline, opinions, requester, record_id, policy = self._read(
            "consultationOf", check_bytes32(consultation_id, "consultation_id")
        )
        return ConsultationInfo(
            patient=patient,
            requester_institution=inst,
            status=ConsultationStatus(status),
            deadline=deadline,
            opinion_count=opinions,
            requester=requester,
            record_id=bytes(record_id),
            policy_hash=bytes(policy),
        )

    def is_invited(self, consultation_id: bytes, institution_id: int) -> bool:
        return bool(
            self._read(
                "isInvited",
                check_bytes32(consultation_id, "consultation_id"),
                check_uint(institution_id, 32, "institution_id"),
            )
        )

    def has_opined(self, consultation_id: bytes, account: str) -> bool:
        return bool(
            self._read(
                "hasOpined",
                check_bytes32(consultation_id, "consultation_id"),
                check_address(account, "account"),
            )
        )
