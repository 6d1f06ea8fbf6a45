"""Referral and consultation steps (``contracts/src/Workflow.sol``), each signed by its actor.

Signed in the domain "MedLedger Workflow". Replay is guarded by the workflow itself: a request
creates a unique id, every referral step is a transition of a state machine that only moves
forward (so a signed step applies once), an opinion is given once per clinician, and a
consultation is closed or cancelled once.

- :class:`ReferralRequest` by the sending doctor;
- :class:`ReferralStep` by a doctor (or nurse, to mark the arrival) of the receiving
  institution, or the requester to cancel: ``action`` says which step and ``argument`` carries
  its value (the reason of a rejection or cancellation, the summary record of a completion;
  zero for accept and arrive);
- :class:`ConsultationRequest` by the requesting doctor (``closes_at`` is when opinions stop);
- :class:`ConsultationOpinion` by an invited clinician;
- :class:`ConsultationClose` and :class:`ConsultationCancel` by the requester.

Two values inside these messages are encodings the client and the API must compute alike, so
they are defined here once: a short reason code as ``bytes32`` (:func:`reason_code`), and a
referral's ``reason``, the SHA-256 (FIPS 180-4) of its off-chain details
(:func:`referral_manifest`), by which an auditor checks the index against the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from crypto.errors import SigningError
from crypto.signing.core import ZERO_BYTES32, TypedMessage, eip712

CONTRACT = "Workflow"
MAX_REASON_BYTES = 32


def reason_code(text: str | None) -> bytes:
    """A short reason code (``no_capacity``) as the contract's ``bytes32``: its UTF-8 bytes,
    zero-padded; no reason is 32 zero bytes. Longer than 32 bytes, or with a NUL (which the
    padding would make ambiguous), raises :class:`SigningError`."""
    if text is None or text == "":
        return ZERO_BYTES32
    raw = text.encode("utf-8")
    if len(raw) > MAX_REASON_BYTES or b"\x00" in raw:
        raise SigningError(f"a reason code is at most {MAX_REASON_BYTES} UTF-8 bytes, no NUL")
    return raw.ljust(MAX_REASON_BYTES, b"\x00")


def referral_manifest(
    *,
    department: str,
    urgency: str,
    record_ids: Iterable[str],
    consent_ids: Iterable[str],
) -> bytes:
    """A referral's on-chain ``reason``: SHA-256 of its details as canonical JSON.

    ``department`` is the normalized ``dept:`` value, ``record_ids`` every record carried and
    ``consent_ids`` the id of every consent sent with it (each ``0x`` + 64 lower-case hex);
    order and repeats do not matter."""
    manifest = {
        "department": department,
        "urgency": urgency,
        "record_ids": sorted({r.lower() for r in record_ids}),
        "consent_ids": sorted({c.lower() for c in consent_ids}),
    }
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).digest()


class ReferralAction(IntEnum):
    """``ReferralStep.action``; the numbers are the contract's."""

    ACCEPT = 1
    REJECT = 2
    ARRIVE = 3
    COMPLETE = 4
    CANCEL = 5


@dataclass(frozen=True, kw_only=True)
class ReferralRequest(TypedMessage):
    """Refer ``patient`` to ``to_institution`` (with an optional record and a reason code)."""

    CONTRACT: ClassVar[str] = CONTRACT

    referral_id: bytes = eip712("bytes32")
    patient: str = eip712("address")
    to_institution: int = eip712("uint32")
    record_id: bytes = eip712("bytes32", ZERO_BYTES32)
    reason: bytes = eip712("bytes32", ZERO_BYTES32)
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class ReferralStep(TypedMessage):
    """One move of referral ``referral_id``; see :class:`ReferralAction`."""

    CONTRACT: ClassVar[str] = CONTRACT

    referral_id: bytes = eip712("bytes32")
    action: ReferralAction = eip712("uint8")  # noqa: RUF009 - eip712() is a dataclasses.field
    argument: bytes = eip712("bytes32", ZERO_BYTES32)
    deadline: int = eip712("uint64")

    @classmethod
    def accept(cls, referral_id: bytes, *, deadline: int) -> ReferralStep:
        return cls(referral_id=referral_id, action=ReferralAction.ACCEPT, deadline=deadline)

    @classmethod
    def reject(cls, referral_id: bytes, reason: bytes, *, deadline: int) -> ReferralStep:
        return cls(
            referral_id=referral_id,
            action=ReferralAction.REJECT,
            argument=reason,
            deadline=deadline,
        )

    @classmethod
    def arrive(cls, referral_id: bytes, *, deadline: int) -> ReferralStep:
        return cls(referral_id=referral_id, action=ReferralAction.ARRIVE, deadline=deadline)

    @classmethod
    def complete(
        cls, referral_id: bytes, summary_record_id: bytes, *, deadline: int
    ) -> ReferralStep:
        return cls(
            referral_id=referral_id,
            action=ReferralAction.COMPLETE,
            argument=summary_record_id,
            deadline=deadline,
        )

    @classmethod
    def cancel(cls, referral_id: bytes, reason: bytes, *, deadline: int) -> ReferralStep:
        return cls(
            referral_id=referral_id,
            action=ReferralAction.CANCEL,
            argument=reason,
            deadline=deadline,
        )


@dataclass(frozen=True, kw_only=True)
class ConsultationRequest(TypedMessage):
    """Open a consultation about ``patient``: invited institutions and/or a policy hash."""

    CONTRACT: ClassVar[str] = CONTRACT

    consultation_id: bytes = eip712("bytes32")
    patient: str = eip712("address")
    record_id: bytes = eip712("bytes32", ZERO_BYTES32)
    invited_institutions: tuple[int, ...] = eip712("uint32[]", ())
    policy_hash: bytes = eip712("bytes32", ZERO_BYTES32)
    closes_at: int = eip712("uint64")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class ConsultationOpinion(TypedMessage):
    """An invited clinician's opinion (content at ``opinion_cid``, digest ``opinion_hash``)."""

    CONTRACT: ClassVar[str] = CONTRACT

    consultation_id: bytes = eip712("bytes32")
    opinion_cid: str = eip712("string")
    opinion_hash: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class ConsultationClose(TypedMessage):
    """The requester closes the consultation with a conclusion document."""

    CONTRACT: ClassVar[str] = CONTRACT

    consultation_id: bytes = eip712("bytes32")
    conclusion_cid: str = eip712("string")
    conclusion_hash: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class ConsultationCancel(TypedMessage):
    """The requester cancels the consultation for ``reason``."""

    CONTRACT: ClassVar[str] = CONTRACT

    consultation_id: bytes = eip712("bytes32")
    reason: bytes = eip712("bytes32", ZERO_BYTES32)
    deadline: int = eip712("uint64")


WORKFLOW_TYPES: tuple[type[TypedMessage], ...] = (
    ReferralRequest,
    ReferralStep,
    ConsultationRequest,
    ConsultationOpinion,
    ConsultationClose,
    ConsultationCancel,
)
