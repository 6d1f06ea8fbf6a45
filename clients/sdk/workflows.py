"""Referrals in the SDK, and what referrals and consultations share: create, move through
their states, list, show (consultations: :mod:`clients.sdk.consultations`).

A mixin of :class:`clients.sdk.MedLedgerClient`. The API decides every rule (who may move a
workflow, from which state) from the chain; the SDK only shapes the requests and reads the
answers into :mod:`clients.sdk.workflow_models`. Three things happen on the client:

- the audience policy the patient's consents must name is built with the server's own
  normalisation (:func:`crypto.policy.normalize`), so the hash the patient signs is the hash
  the API expects (:func:`referral_audience`, :func:`consultation_audience`);
- the patient signs those consents with their own key (:meth:`sign_workflow_consents`), one
  per record or one for the whole chart, each nonce above the last;
- an answer (a referral's summary, a consultation's opinion) is shared under a policy that
  admits the doctor who must read it (:meth:`share_answer`); the patient is always ORed in;
- every request and step is signed here by this account, its actor
  (:mod:`clients.sdk.workflow_messages`, :meth:`MedLedgerClient.sign_action`): the chain
  trusts that signature, not the API's relayer.

Creating a workflow names its id on the client (it is part of the signed request), so a
dropped connection is retried once with the same id and signature, which the API answers
with the workflow already made.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount

from clients.sdk import consent_messages as consent_tools
from clients.sdk import workflow_messages as messages
from clients.sdk.errors import ApiUnavailableError, ClientError
from clients.sdk.models import ChainInfo, Page, RecordInfo
from clients.sdk.policies import reader_policy
from clients.sdk.registry import ChainRecords
from clients.sdk.transfer import Progress, Source
from clients.sdk.transport import Transport
from clients.sdk.workflow_models import (
    WORKFLOW_PURPOSES,
    ReferralInfo,
    WorkflowConsents,
)
from crypto.errors import PolicyError
from crypto.policy import normalize
from crypto.signing import TypedMessage, sign

DEFAULT_CONSENT_TTL = 30 * 86_400
DEFAULT_CONSULTATION_TTL = 3 * 86_400
URGENCIES = ("routine", "urgent", "emergency")


def referral_audience(org_code: str, department: str) -> str:
    """The receiving department's policy a referral's consents name:
    ``org:<code> and dept:<department>``, normalized as the API normalizes it."""
    try:
        return normalize(f"org:{org_code} and dept:{department}")
    except PolicyError as exc:
        raise ClientError(f"cannot build the receiving department's policy: {exc}") from None


def consultation_audience(org_codes: Sequence[str], policy: str | None = None) -> str:
    """Who a consultation addresses: ``org:<code>`` of each invited institution ORed with
    ``(<invited policy>)``, normalized as the API normalizes it."""
    parts = [f"org:{code}" for code in sorted(set(org_codes))]
    if policy:
        parts.append(f"({policy})")
    if not parts:
        raise ClientError("a consultation invites institutions, a policy, or both")
    try:
        return normalize(" or ".join(parts))
    except PolicyError as exc:
        raise ClientError(f"cannot build the consultation's audience policy: {exc}") from None


def workflow_id_text(value: str, what: str) -> str:
    """A referral or consultation id (``0x`` + 64 hex), checked before it goes into a URL."""
    return "0x" + consent_tools.bytes32(value, what).hex()


class WorkflowsMixin:
    """Referrals, consultations, and the patient's consents for them."""

    _http: Transport

    if TYPE_CHECKING:  # defined by the client and RecordsMixin (a runtime stub would shadow
        # them in the MRO)

        def _require_account(self) -> LocalAccount: ...
        def chain_info(self) -> ChainInfo: ...
        def sign_action(self, message: TypedMessage) -> bytes: ...
        def chain_records(self) -> ChainRecords: ...
        def share(
            self,
            source: Source,
            *,
            patient: str,
            policy: str,
            record_type: str,
            content_type: str = "application/octet-stream",
            record_id: bytes | None = None,
            progress: Progress | None = None,
        ) -> RecordInfo: ...

    # ------------------------------------------------------------------ the patient's side

    def sign_workflow_consents(
        self,
        *,
        purpose: str,
        audience_policy: str,
        record_ids: Sequence[str] = (),
        expires_at: int | None = None,
        expires_in: int = DEFAULT_CONSENT_TTL,
        not_before: int = 0,
    ) -> WorkflowConsents:
        """Sign, as this account (the patient), consents for ``purpose`` (referral or
        consultation) naming ``audience_policy``: one per record, or one for the whole chart
        when ``record_ids`` is empty. Nothing is sent: the doctor relays them with the
        workflow. Each nonce is above the previous one (``ConsentManager`` wants them rising)."""
        account = self._require_account()
        wanted = consent_tools.parse_purpose(purpose)
        if wanted not in WORKFLOW_PURPOSES:
            raise ClientError(f"a workflow consent is for referral or consultation, not {purpose}")
        ids = list(dict.fromkeys(workflow_id_text(r, "a record id") for r in record_ids))
        until = expires_at if expires_at is not None else int(time.time()) + expires_in
        domain = self.chain_info().domain
        signed: list[dict[str, Any]] = []
        audience = ""
        last_nonce = 0
        for record_id in ids or [None]:
            consent, audience_text = consent_tools.build_consent(
                patient=account.address,
                grantee=None,
                grantee_policy=audience_policy,
                record_id=record_id,
                purpose=wanted,
                not_before=not_before,
                expires_at=until,
            )
            consent = dataclasses.replace(
                consent, nonce=consent_tools.next_nonce(above=max(last_nonce, consent.nonce))
            )
            last_nonce = consent.nonce
            audience = audience_text or ""
            signature = sign(domain, consent, account.key)
            signed.append(
                {
                    "consent": consent_tools.consent_json(consent),
                    "signature": "0x" + signature.hex(),
                    "grantee_policy": audience,
                }
            )
        return WorkflowConsents(
            patient=account.address,
            purpose=wanted,
            audience_policy=audience,
            record_ids=ids,
            consents=signed,
            chain_id=domain.chain_id,
            verifying_contract=domain.verifying_contract,
        )

    # ------------------------------------------------------------------ answers

    def share_answer(
        self,
        source: Source,
        *,
        patient: str,
        reader: str,
        policy: str | None = None,
        record_type: str = "Document",
        content_type: str = "application/octet-stream",
        progress: Progress | None = None,
    ) -> RecordInfo:
        """Share a record of ``patient`` that ``reader`` (a referral's sender, a
        consultation's requester) can open: ``uid:<reader>``, ORed with ``policy`` if given
        (:func:`clients.sdk.policies.reader_policy`); :meth:`share` composes the rest."""
        reader = consent_tools.checked_address(reader, "reader")
        full = reader_policy(reader, policy)
        return self.share(
            source,
            patient=patient,
            policy=full,
            record_type=record_type,
            content_type=content_type,
            progress=progress,
        )

    # ------------------------------------------------------------------ referrals

    def create_referral(
        self,
        *,
        patient: str,
        to_institution: int | str,
        department: str,
        reason_record_id: str,
        consents: WorkflowConsents | Sequence[dict[str, Any]],
        record_ids: Sequence[str] = (),
        urgency: str = "routine",
        referral_id: str | None = None,
    ) -> ReferralInfo:
        """Refer ``patient`` to ``department`` of ``to_institution`` (id or code), sending the
        reason record and ``record_ids`` along under the patient's referral consents; the
        request is signed by this account (the requesting doctor)."""
        if urgency not in URGENCIES:
            raise ClientError(f"urgency must be one of {', '.join(URGENCIES)}, got {urgency!r}")
        rid = workflow_id_text(referral_id, "referral_id") if referral_id else _new_id()
        reason_id = workflow_id_text(reason_record_id, "reason_record_id")
        shared = [workflow_id_text(r, "a record id") for r in record_ids]
        patient = consent_tools.checked_address(patient, "patient")
        institution = self.institution_id(to_institution)
        bodies = _consent_bodies(consents)
        message = messages.referral_request(
            referral_id=rid,
            patient=patient,
            to_institution=institution,
            department=department,
            urgency=urgency,
            reason_record_id=reason_id,
            record_ids=shared,
            consents=bodies,
        )
        body = {
            "referral_id": rid,
            "patient": patient,
            "to_institution": institution,
            "department": department,
            "urgency": urgency,
            "reason_record_id": reason_id,
            "record_ids": shared,
            "consents": bodies,
            "signed": self._signed(message),
        }
        return ReferralInfo.from_json(self._create("/referrals", body))

    def accept_referral(self, referral_id: str) -> ReferralInfo:
        return self._referral_step(referral_id, "accept")

    def reject_referral(self, referral_id: str, reason: str) -> ReferralInfo:
        """Reject with a short reason code (≤ 32 bytes, e.g. ``no_capacity``)."""
        return self._referral_step(referral_id, "reject", reason=reason)

    def arrive(self, referral_id: str) -> ReferralInfo:
        """The patient checked in at the receiving institution."""
        return self._referral_step(referral_id, "arrive")

    def complete_referral(self, referral_id: str, summary_record_id: str) -> ReferralInfo:
        """Complete with a summary record I wrote after the referral was accepted, whose policy
        admits the requesting doctor (who alone reads it through the referral)."""
        summary = workflow_id_text(summary_record_id, "summary_record_id")
        return self._referral_step(referral_id, "complete", summary=summary)

    def cancel_referral(self, referral_id: str, reason: str | None = None) -> ReferralInfo:
        return self._referral_step(referral_id, "cancel", reason=reason)

    def referrals(
        self,
        *,
        institution: int | str | None = None,
        direction: str = "both",
        state: str | None = None,
        patient: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page[ReferralInfo]:
        """A work list: ``institution``'s (default: mine) incoming, outgoing or both
        referrals, by ``state`` (or ``open``); a patient sees their own."""
        params: dict[str, Any] = {"direction": direction, "offset": offset, "limit": limit}
        for key, value in (("institution", institution), ("state", state), ("patient", patient)):
            if value is not None:
                params[key] = value
        raw = self._http.json("GET", "/referrals", params=params)
        return _page(raw, ReferralInfo.from_json)

    def referral(self, referral_id: str) -> ReferralInfo:
        """One referral with its records and history (each transition with its tx)."""
        rid = workflow_id_text(referral_id, "referral_id")
        return ReferralInfo.from_json(self._http.json("GET", f"/referrals/{rid}"))

    def _referral_step(
        self,
        referral_id: str,
        action: str,
        *,
        reason: str | None = None,
        summary: str | None = None,
    ) -> ReferralInfo:
        """One step, signed by this account as the ``ReferralStep`` the API rebuilds."""
        rid = workflow_id_text(referral_id, "referral_id")
        message = messages.referral_step(rid, action, reason=reason, summary=summary)
        body: dict[str, Any] = {"signed": self._signed(message)}
        if action in ("reject", "cancel"):
            body["reason"] = reason
        if summary is not None:
            body["summary_record_id"] = summary
        answer = self._http.json("POST", f"/referrals/{rid}/{action}", json=body)
        return ReferralInfo.from_json(answer)

    # ------------------------------------------------------------------ signing

    def institution_id(self, institution: int | str) -> int:
        """An institution's id, from its code through ``GET /directory`` (an id as is)."""
        if isinstance(institution, int) or str(institution).isdigit():
            return int(institution)
        raw = self._http.json("GET", "/directory", auth=False)
        for item in raw["institutions"]:
            if item["code"] == institution:
                return int(item["institution_id"])
        raise ClientError(f"no institution with code {institution!r} in the directory")

    def _signed(self, message: TypedMessage) -> dict[str, Any]:
        """The request's ``signed`` field: this account's signature of ``message``."""
        return messages.signed_json(self.sign_action(message), message.deadline)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ shared

    def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a new workflow; a connection dropped after sending is retried once with the
        same id (the API answers 200 with the workflow already made)."""
        for attempt in range(2):
            try:
                answer: dict[str, Any] = self._http.json("POST", path, json=body)
                return answer
            except ApiUnavailableError as exc:
                if attempt or not exc.request_sent:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _new_id() -> str:
    return "0x" + secrets.token_bytes(32).hex()


def _consent_bodies(
    consents: WorkflowConsents | Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    if isinstance(consents, WorkflowConsents):
        return list(consents.consents)
    return [dict(c) for c in consents]


def _page(raw: dict[str, Any], parse: Any) -> Page[Any]:
    return Page(
        items=[parse(item) for item in raw["items"]],
        total=int(raw["total"]),
        offset=int(raw["offset"]),
        limit=int(raw["limit"]),
    )
