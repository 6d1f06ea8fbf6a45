"""Remote consultations in the SDK: open one, give an opinion, close or cancel, list, show.

A mixin of :class:`clients.sdk.MedLedgerClient`, beside
:class:`~clients.sdk.workflows.WorkflowsMixin` (referrals, the patient's consents, answers,
and what both workflows share). Every write is
signed here by this account (:mod:`clients.sdk.workflow_messages`): the request by the
requesting doctor, an opinion by the invited clinician over the opinion record's body CID and
digest as the chain has them (read from a chain node, not taken from the API), the close and
the cancellation by the requester.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clients.sdk import consent_messages as consent_tools
from clients.sdk import workflow_messages as messages
from clients.sdk.errors import ClientError
from clients.sdk.models import Page
from clients.sdk.registry import ChainRecords
from clients.sdk.transport import Transport
from clients.sdk.workflow_models import ConsultationInfo, WorkflowConsents
from clients.sdk.workflows import (
    DEFAULT_CONSULTATION_TTL,
    _consent_bodies,
    _new_id,
    _page,
    workflow_id_text,
)
from crypto.signing import ZERO_BYTES32, TypedMessage

__all__ = ["ConsultationsMixin"]


class ConsultationsMixin:
    """Consultations; see the module docstring."""

    _http: Transport

    if TYPE_CHECKING:  # defined by the client and WorkflowsMixin

        def chain_records(self) -> ChainRecords: ...
        def institution_id(self, institution: int | str) -> int: ...
        def _signed(self, message: TypedMessage) -> dict[str, Any]: ...
        def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def create_consultation(
        self,
        *,
        patient: str,
        question_record_id: str,
        consents: WorkflowConsents | Sequence[dict[str, Any]],
        record_ids: Sequence[str] = (),
        invited_institutions: Sequence[int | str] = (),
        invited_policy: str | None = None,
        deadline: int | None = None,
        deadline_in: int = DEFAULT_CONSULTATION_TTL,
        consultation_id: str | None = None,
    ) -> ConsultationInfo:
        """Ask the invited institutions (ids or codes) and/or the clinicians matching
        ``invited_policy`` for opinions until ``deadline`` (unix seconds, chain time)."""
        if not invited_institutions and not invited_policy:
            raise ClientError("a consultation invites institutions, a policy, or both")
        cid = workflow_id_text(consultation_id, "consultation_id") if consultation_id else None
        cid = cid or _new_id()
        patient = consent_tools.checked_address(patient, "patient")
        question = workflow_id_text(question_record_id, "question_record_id")
        invited = sorted({self.institution_id(i) for i in invited_institutions})
        closes_at = deadline if deadline is not None else int(time.time()) + deadline_in
        message = messages.consultation_request(
            consultation_id=cid,
            patient=patient,
            question_record_id=question,
            invited_institutions=invited,
            invited_policy=invited_policy,
            closes_at=closes_at,
        )
        body = {
            "consultation_id": cid,
            "patient": patient,
            "question_record_id": question,
            "record_ids": [workflow_id_text(r, "a record id") for r in record_ids],
            "invited_institutions": invited,
            "invited_policy": invited_policy,
            "deadline": closes_at,
            "consents": _consent_bodies(consents),
            "signed": self._signed(message),
        }
        return ConsultationInfo.from_json(self._create("/consultations", body))

    def consultations(
        self,
        *,
        role: str | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page[ConsultationInfo]:
        """``role``: invited (a clinician's default), requested, patient, all (auditors)."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if role is not None:
            params["role"] = role
        if state is not None:
            params["state"] = state
        raw = self._http.json("GET", "/consultations", params=params)
        return _page(raw, ConsultationInfo.from_json)

    def consultation(self, consultation_id: str) -> ConsultationInfo:
        """One consultation with its opinions and history."""
        cid = workflow_id_text(consultation_id, "consultation_id")
        return ConsultationInfo.from_json(self._http.json("GET", f"/consultations/{cid}"))

    def submit_opinion(self, consultation_id: str, record_id: str) -> ConsultationInfo:
        """Give my opinion: a record I uploaded that admits the requester and the patient
        (signed over its body's CID and digest as the chain has them)."""
        cid = workflow_id_text(consultation_id, "consultation_id")
        rid = workflow_id_text(record_id, "record_id")
        message = messages.consultation_opinion(cid, *self._document(rid))
        body = {"record_id": rid, "signed": self._signed(message)}
        return self._consultation_step(cid, "opinions", body)

    def close_consultation(
        self, consultation_id: str, conclusion_record_id: str
    ) -> ConsultationInfo:
        cid = workflow_id_text(consultation_id, "consultation_id")
        rid = workflow_id_text(conclusion_record_id, "conclusion_record_id")
        message = messages.consultation_close(cid, *self._document(rid))
        body = {"conclusion_record_id": rid, "signed": self._signed(message)}
        return self._consultation_step(cid, "close", body)

    def cancel_consultation(
        self, consultation_id: str, reason: str | None = None
    ) -> ConsultationInfo:
        cid = workflow_id_text(consultation_id, "consultation_id")
        message = messages.consultation_cancel(cid, reason)
        body = {"reason": reason, "signed": self._signed(message)}
        return self._consultation_step(cid, "cancel", body)

    def _consultation_step(
        self, consultation_id: str, action: str, body: dict[str, Any]
    ) -> ConsultationInfo:
        cid = workflow_id_text(consultation_id, "consultation_id")
        answer = self._http.json("POST", f"/consultations/{cid}/{action}", json=body)
        return ConsultationInfo.from_json(answer)

    def _document(self, record_id: str) -> tuple[str, str]:
        """``(body CID, body SHA-256)`` of a record as the chain has it now (its registration
        and every re-key since), which an opinion or a conclusion is signed over.

        The zero id names no record: it is signed over nothing, and the API refuses it
        (422 ``unknown_record``) after the party and state checks, before the signature — a
        step tried with it tells whether the step itself is allowed (the CLI's dry run)."""
        if record_id == "0x" + ZERO_BYTES32.hex():
            return "", record_id
        registration = self.chain_records().registration(record_id)
        return registration.body_cid, registration.body_sha256
