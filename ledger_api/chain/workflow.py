"""Typed wrapper of ``Workflow``: two-way referrals (双向转诊) and remote consultations (远程会诊).

Every transition names the clinician acting (``actor``); the API relays it after checking that
the session belongs to that clinician, and the contract checks the actor's role and institution.
Reasons are ``bytes32`` codes or digests chosen by the API (free text belongs in a record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from ledger_api.chain.contract import (
    BoundContract,
    PendingTx,
    check_address,
    check_bytes32,
    check_text,
    check_uint,
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


class Workflow(BoundContract):
    NAME = "Workflow"

    # -- referrals ------------------------------------------------------------------------

    def request_referral(
        self,
        *,
        actor: str,
        referral_id: bytes,
        patient: str,
        to_institution: int,
        record_id: bytes,
        reason: bytes = NO_REASON,
    ) -> PendingTx:
        return self._write(
            "requestReferral",
            check_address(actor, "actor"),
            check_bytes32(referral_id, "referral_id"),
            check_address(patient, "patient"),
            check_uint(to_institution, 32, "to_institution"),
            check_bytes32(record_id, "record_id"),
            check_bytes32(reason, "reason"),
        )

    def accept_referral(self, *, actor: str, referral_id: bytes) -> PendingTx:
        return self._step("acceptReferral", actor, referral_id)

    def reject_referral(
        self, *, actor: str, referral_id: bytes, reason: bytes = NO_REASON
    ) -> PendingTx:
        return self._step("rejectReferral", actor, referral_id, check_bytes32(reason, "reason"))

    def mark_arrived(self, *, actor: str, referral_id: bytes) -> PendingTx:
        return self._step("markArrived", actor, referral_id)

    def complete_referral(
        self, *, actor: str, referral_id: bytes, summary_record_id: bytes
    ) -> PendingTx:
        return self._step(
            "completeReferral",
            actor,
            referral_id,
            check_bytes32(summary_record_id, "summary_record_id"),
        )

    def cancel_referral(
        self, *, actor: str, referral_id: bytes, reason: bytes = NO_REASON
    ) -> PendingTx:
        return self._step("cancelReferral", actor, referral_id, check_bytes32(reason, "reason"))

    # -- consultations --------------------------------------------------------------------

    def request_consultation(
        self,
        *,
        actor: str,
        consultation_id: bytes,
        patient: str,
        record_id: bytes,
        invited_institutions: Sequence[int],
        policy_hash: bytes,
        deadline: int,
    ) -> PendingTx:
        """Invite institutions (at most 16), or open it to an attribute policy, or both."""
        policy = check_bytes32(policy_hash, "policy_hash")
        if len(invited_institutions) > MAX_INVITED or (
            not invited_institutions and policy == NO_REASON
        ):
            raise InvalidChainInputError(
                f"invite 1 to {MAX_INVITED} institutions (or none with a policy hash), "
                f"got {len(invited_institutions)}"
            )
        return self._write(
            "requestConsultation",
            check_address(actor, "actor"),
            check_bytes32(consultation_id, "consultation_id"),
            check_address(patient, "patient"),
            check_bytes32(record_id, "record_id"),
            [check_uint(i, 32, "invited institution") for i in invited_institutions],
            policy,
            check_uint(deadline, 64, "deadline"),
        )

    def submit_opinion(
        self, *, actor: str, consultation_id: bytes, opinion_cid: str, opinion_hash: bytes
    ) -> PendingTx:
        return self._step(
            "submitOpinion",
            actor,
            consultation_id,
            check_text(opinion_cid, "opinion_cid"),
            check_bytes32(opinion_hash, "opinion_hash"),
        )

    def close_consultation(
        self, *, actor: str, consultation_id: bytes, conclusion_cid: str, conclusion_hash: bytes
    ) -> PendingTx:
        return self._step(
            "closeConsultation",
            actor,
            consultation_id,
            check_text(conclusion_cid, "conclusion_cid"),
            check_bytes32(conclusion_hash, "conclusion_hash"),
        )

    def cancel_consultation(
        self, *, actor: str, consultation_id: bytes, reason: bytes = NO_REASON
    ) -> PendingTx:
        return self._step(
            "cancelConsultation", actor, consultation_id, check_bytes32(reason, "reason")
        )

    def _step(self, function: str, actor: str, item_id: bytes, *rest: object) -> PendingTx:
        return self._write(
            function, check_address(actor, "actor"), check_bytes32(item_id, "id"), *rest
        )

    # -- views ----------------------------------------------------------------------------

    def referral_of(self, referral_id: bytes) -> ReferralInfo:
        patient, src, dst, status, requester, record_id, summary = self._read(
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
