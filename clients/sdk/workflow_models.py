"""Plain data for referrals and consultations, and the patient's signed workflow consents.

The SDK returns these (:mod:`clients.sdk.workflows`); the CLI prints them. Each keeps the API's
JSON in ``raw``. :class:`WorkflowConsents` is what a patient signs on their own machine and
hands to the doctor (``medledger patient sign-consent`` writes it to a file): only the signed
EIP-712 consents travel, never the patient's key, and the doctor's client checks the file
against the workflow it is about to create before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clients.sdk.consent_messages import checked_address, consent_from_json, parse_purpose
from clients.sdk.errors import ClientError
from crypto.errors import PolicyError
from crypto.policy import normalize, policy_hash
from crypto.signing import ZERO_BYTES32, Consent, Purpose

CONSENT_FILE_VERSION = 1
WORKFLOW_PURPOSES = (Purpose.REFERRAL, Purpose.CONSULTATION)


@dataclass(frozen=True)
class Transition:
    """One on-chain step of a workflow (``requested``, ``accepted``, …) with its transaction."""

    event: str
    state: str
    actor: str
    reason: str | None
    block_number: int
    block_time: int
    tx_hash: str

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Transition:
        return cls(
            event=str(item["event"]),
            state=str(item["state"]),
            actor=str(item["actor"]),
            reason=item.get("reason_text") or item.get("reason"),
            block_number=int(item["block_number"]),
            block_time=int(item["block_time"]),
            tx_hash=str(item["tx_hash"]),
        )


def _history(view: dict[str, Any]) -> list[Transition]:
    return [Transition.from_json(item) for item in view.get("history") or []]


@dataclass(frozen=True)
class ReferralInfo:
    """A referral as the API reports it (``history`` only from :meth:`referral`)."""

    referral_id: str
    patient: str
    requester: str
    from_institution: int
    to_institution: int
    department: str | None
    urgency: str | None
    audience_policy: str | None
    state: str
    open: bool
    reason_record_id: str | None
    record_ids: list[str]
    consent_ids: list[str]
    summary_record_id: str | None
    closing_reason: str | None
    tx_hash: str
    block_number: int
    history: list[Transition] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, view: dict[str, Any]) -> ReferralInfo:
        return cls(
            referral_id=str(view["referral_id"]),
            patient=str(view["patient"]),
            requester=str(view["requester"]),
            from_institution=int(view["from_institution"]),
            to_institution=int(view["to_institution"]),
            department=view.get("department"),
            urgency=view.get("urgency"),
            audience_policy=view.get("audience_policy"),
            state=str(view["state"]),
            open=bool(view.get("open")),
            reason_record_id=view.get("reason_record_id"),
            record_ids=list(view.get("record_ids") or []),
            consent_ids=list(view.get("consent_ids") or []),
            summary_record_id=view.get("summary_record_id"),
            closing_reason=view.get("closing_reason"),
            tx_hash=str(view["tx_hash"]),
            block_number=int(view["block_number"]),
            history=_history(view),
            raw=dict(view),
        )


@dataclass(frozen=True)
class Opinion:
    """One invited clinician's opinion: a record of the patient they uploaded."""

    author: str
    institution_id: int
    record_id: str | None
    opinion_cid: str
    block_number: int
    block_time: int
    tx_hash: str

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Opinion:
        return cls(
            author=str(item["author"]),
            institution_id=int(item["institution_id"]),
            record_id=item.get("record_id"),
            opinion_cid=str(item["opinion_cid"]),
            block_number=int(item["block_number"]),
            block_time=int(item["block_time"]),
            tx_hash=str(item["tx_hash"]),
        )


@dataclass(frozen=True)
class ConsultationInfo:
    """A consultation as the API reports it (opinions and history from :meth:`consultation`)."""

    consultation_id: str
    patient: str
    requester: str
    requester_institution: int
    invited_institutions: list[int]
    invited_policy: str | None
    audience_policy: str | None
    deadline: int
    state: str
    question_record_id: str | None
    record_ids: list[str]
    opinion_count: int
    conclusion_record_id: str | None
    closing_reason: str | None
    tx_hash: str
    block_number: int
    opinions: list[Opinion] = field(default_factory=list)
    history: list[Transition] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, view: dict[str, Any]) -> ConsultationInfo:
        return cls(
            consultation_id=str(view["consultation_id"]),
            patient=str(view["patient"]),
            requester=str(view["requester"]),
            requester_institution=int(view["requester_institution"]),
            invited_institutions=[int(i) for i in view.get("invited_institutions") or []],
            invited_policy=view.get("invited_policy"),
            audience_policy=view.get("audience_policy"),
            deadline=int(view["deadline"]),
            state=str(view["state"]),
            question_record_id=view.get("question_record_id"),
            record_ids=list(view.get("record_ids") or []),
            opinion_count=int(view.get("opinion_count") or 0),
            conclusion_record_id=view.get("conclusion_record_id"),
            closing_reason=view.get("closing_reason"),
            tx_hash=str(view["tx_hash"]),
            block_number=int(view["block_number"]),
            opinions=[Opinion.from_json(o) for o in view.get("opinions") or []],
            history=_history(view),
            raw=dict(view),
        )


def latest_step(item: ReferralInfo | ConsultationInfo) -> tuple[str, int]:
    """The transaction and block of a workflow's latest step (its creation when the view has
    no history): what a command or the demo reports after taking a step."""
    if item.history:
        last = item.history[-1]
        return last.tx_hash, last.block_number
    return item.tx_hash, item.block_number


@dataclass(frozen=True)
class WorkflowConsents:
    """The patient's signed consents for one workflow: one purpose, one audience policy, and
    the records they cover (``record_ids`` empty = the whole chart).

    ``consents`` are ``ConsentRequest`` bodies (``{consent, signature, grantee_policy}``),
    sent as they are in ``POST /referrals`` or ``POST /consultations``."""

    patient: str
    purpose: Purpose
    audience_policy: str
    record_ids: list[str]
    consents: list[dict[str, Any]]
    chain_id: int
    verifying_contract: str

    @property
    def whole_chart(self) -> bool:
        return not self.record_ids

    def covers(self, record_ids: list[str]) -> list[str]:
        """The ids among ``record_ids`` these consents do not cover (none = all covered)."""
        if self.whole_chart:
            return []
        signed = set(self.record_ids)
        return [rid for rid in record_ids if rid.lower() not in signed]

    def signed(self) -> list[tuple[Consent, bytes]]:
        """Each consent's signed fields and signature (for checking before sending)."""
        out = []
        for item in self.consents:
            signature = str(item["signature"])
            try:
                raw = bytes.fromhex(signature.removeprefix("0x"))
            except ValueError:
                raise ClientError("a consent's signature is not hex") from None
            out.append((consent_from_json(item["consent"]), raw))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "medledger_workflow_consents": CONSENT_FILE_VERSION,
            "patient": self.patient,
            "purpose": self.purpose.name.lower(),
            "audience_policy": self.audience_policy,
            "record_ids": list(self.record_ids),
            "chain_id": self.chain_id,
            "verifying_contract": self.verifying_contract,
            "consents": list(self.consents),
        }

    @classmethod
    def from_json(cls, data: Any) -> WorkflowConsents:
        """Parse and check a consent file: every consent must be the named patient's, for the
        named purpose and audience policy, and name one of the listed records (or the whole
        chart when none is listed). Raises :class:`ClientError` naming what is wrong."""
        if not isinstance(data, dict) or "medledger_workflow_consents" not in data:
            raise ClientError("not a MedLedger workflow consent file")
        if data["medledger_workflow_consents"] != CONSENT_FILE_VERSION:
            raise ClientError(
                f"unsupported consent file version {data['medledger_workflow_consents']!r}"
            )
        try:
            made = cls(
                patient=checked_address(str(data["patient"]), "the consent file's patient"),
                purpose=parse_purpose(str(data["purpose"])),
                audience_policy=normalize(str(data["audience_policy"])),
                record_ids=[str(r).lower() for r in data.get("record_ids") or []],
                consents=list(data["consents"]),
                chain_id=int(data["chain_id"]),
                verifying_contract=checked_address(
                    str(data["verifying_contract"]), "the consent file's verifying contract"
                ),
            )
            made._check()
        except KeyError as exc:
            raise ClientError(f"the consent file lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError, PolicyError) as exc:
            raise ClientError(f"the consent file is malformed: {exc}") from None
        return made

    def _check(self) -> None:
        if self.purpose not in WORKFLOW_PURPOSES:
            raise ClientError(
                f"a workflow consent is for referral or consultation, not {self.purpose.name}"
            )
        if not self.consents:
            raise ClientError("the consent file holds no consent")
        wanted_hash = policy_hash(self.audience_policy)
        named: set[str] = set()
        for consent, _ in self.signed():
            if consent.patient.lower() != self.patient.lower():
                raise ClientError("a consent in the file names another patient")
            if consent.purpose != self.purpose:
                raise ClientError("a consent in the file is for another purpose")
            if consent.grantee_policy_hash != wanted_hash:
                raise ClientError("a consent in the file names another policy than the file")
            if consent.record_id == ZERO_BYTES32:
                named.add("")
            else:
                named.add("0x" + consent.record_id.hex())
        expected = set(self.record_ids) if self.record_ids else {""}
        if named != expected:
            raise ClientError("the file's consents do not name exactly the records it lists")
