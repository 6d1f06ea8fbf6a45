"""``/consultations``: remote consultations — open, list, show, opinions, close, cancel.

Thin: request and answer models and status codes here, the rules in
:mod:`ledger_api.services.consultations`. Invited specialists read the shared records with
``GET /records/{id}/…?purpose=consultation``.

Every write carries ``signed`` (the actor's EIP-712 signature and its deadline, domain
"MedLedger Workflow"); each route's description says which message the API rebuilds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from crypto.policy import MAX_POLICY_LENGTH
from ledger_api.deps import ContextDep, DbDep, PrincipalDep
from ledger_api.inputs import Offset, uint_query
from ledger_api.routes.consents import ConsentRequest
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import (
    AddressField,
    ConsultationIdPath,
    Hex32Field,
    InstitutionField,
    SignedIn,
    Uint64Field,
)
from ledger_api.routes.workflow_common import (
    SIGNATURE_403,
    SIGNATURE_422,
    ReasonBody,
    StepBody,
    TransitionOut,
    create_responses,
    page_out,
)
from ledger_api.services import consultation_queries as queries
from ledger_api.services import consultations as service
from ledger_api.services import workflows as wf

router = APIRouter(prefix="/consultations", tags=["consultations"])

_CREATE_422 = (
    "invalid_patient, invalid_consultation_id, invalid_institution, invalid_invitees, "
    "invalid_policy, invalid_deadline, invalid_question_record_id, invalid_record_id, "
    "too_many_records, unknown_record, invalid_record, consent_required, consent_mismatch, "
    "consent_missing, invalid_consent, invalid_grantee, invalid_purpose, invalid_window, "
    "policy_hash_mismatch, invalid_request, " + SIGNATURE_422
)


class ConsultationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consultation_id: Hex32Field = Field(
        description="0x + 32 random bytes chosen by the client, who signs it (a retry names "
        "the same id and signature)."
    )
    patient: AddressField
    question_record_id: Hex32Field = Field(
        description="The question: an encrypted record uploaded."
    )
    record_ids: list[Hex32Field] = Field(
        default_factory=list, max_length=wf.MAX_RECORDS, description="Further shared records."
    )
    invited_institutions: list[InstitutionField] = Field(
        default_factory=list, max_length=16, description="Ids or codes (at most 16)."
    )
    invited_policy: str | None = Field(
        None,
        max_length=MAX_POLICY_LENGTH,
        description="An attribute policy for the invited specialists.",
    )
    deadline: Uint64Field = Field(description="Unix seconds (chain time) when opinions close.")
    consents: list[ConsentRequest] = Field(
        max_length=wf.MAX_RECORDS + 1,
        description="The patient's consents, purpose `consultation`, for the audience policy "
        "(`org:<code>` of each invited institution ORed with `(invited_policy)`), together "
        "covering the question and every shared record.",
    )
    signed: SignedIn = Field(
        description="The requesting doctor's signature of `ConsultationRequest(consultationId, "
        "patient, recordId = question_record_id, invitedInstitutions (ids, ascending, no "
        "repeats), policyHash (keccak-256 of the normalized invited policy, or zero), "
        "closesAt = deadline, deadline = signed.deadline)`."
    )


class OpinionBody(StepBody):
    record_id: Hex32Field = Field(
        description="The opinion: a record the caller uploaded whose policy admits the "
        "requesting doctor and the patient."
    )


class CloseBody(StepBody):
    conclusion_record_id: Hex32Field


class OpinionOut(BaseModel):
    author: str
    institution_id: int
    record_id: str | None
    opinion_cid: str
    opinion_hash: str
    block_number: int
    block_time: int
    tx_hash: str


class ConsultationOut(BaseModel):
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
    consent_ids: list[str]
    opinion_count: int
    conclusion_record_id: str | None
    closing_reason: str | None
    created_at: int
    updated_at: int
    tx_hash: str
    block_number: int
    opinions: list[OpinionOut] | None = None
    history: list[TransitionOut] | None = None


class ConsultationPageOut(BaseModel):
    items: list[ConsultationOut]
    total: int
    offset: int
    limit: int


def _out(view: dict[str, Any]) -> ConsultationOut:
    return ConsultationOut(**view)


@router.post(
    "",
    status_code=201,
    summary="Ask invited specialists for an opinion on a patient",
    responses=create_responses(ConsultationOut, "consultation", s422=_CREATE_422),
)
def create(
    body: ConsultationCreate,
    response: Response,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ConsultationOut:
    """201 with the new consultation; 200 with it when the same request is retried.

    Signed: `ConsultationRequest` (see `signed`), checked before the consents are relayed."""
    view, created = service.create_consultation(
        ctx=ctx,
        db=db,
        principal=principal,
        patient=body.patient,
        question_record_id=body.question_record_id,
        record_ids=body.record_ids,
        invited_institutions=body.invited_institutions,
        invited_policy=body.invited_policy,
        deadline=body.deadline,
        consents=[c.model_dump() for c in body.consents],
        consultation_id=body.consultation_id,
        signed=body.signed.action(),
    )
    response.status_code = 201 if created else 200
    return _out(view)


@router.get(
    "",
    summary="Consultations: open ones inviting the caller (default), requested, a patient's",
    responses=error_responses(
        s401="unauthorized",
        s403="forbidden",
        s422="invalid_role, invalid_state, invalid_page, invalid_request",
        s503="chain_unavailable",
    ),
)
def list_consultations(
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    role: Annotated[
        Literal["invited", "requested", "patient", "all"] | None,
        Query(description="Default: invited for clinicians, all for auditors, else patient"),
    ] = None,
    state: Annotated[Literal["open", "closed", "cancelled"] | None, Query()] = None,
    offset: Offset = 0,
    limit: uint_query(ge=1, le=wf.MAX_PAGE) = 50,
) -> ConsultationPageOut:
    page = queries.list_consultations(
        ctx=ctx, db=db, principal=principal, role=role, state=state, offset=offset, limit=limit
    )
    return page_out(ConsultationPageOut, page, _out)


@router.get(
    "/{consultation_id}",
    summary="One consultation with its opinions and history",
    responses=error_responses(
        s401="unauthorized",
        s403="forbidden",
        s404="consultation_not_found",
        s422="invalid_consultation_id",
        s503="chain_unavailable",
    ),
)
def show(
    consultation_id: ConsultationIdPath, ctx: ContextDep, db: DbDep, principal: PrincipalDep
) -> ConsultationOut:
    return _out(
        queries.get_consultation(
            ctx=ctx, db=db, principal=principal, consultation_id=consultation_id
        )
    )


@router.post(
    "/{consultation_id}/opinions",
    status_code=201,
    summary="Give an opinion (an invited clinician, once, before the deadline and the close)",
    responses=error_responses(
        s401="unauthorized",
        s403="not_invited, " + SIGNATURE_403,
        s404="consultation_not_found",
        s409="invalid_transition, deadline_passed, already_opined",
        s422="invalid_consultation_id, invalid_record_id, unknown_record, invalid_record, "
        "not_author, opinion_not_for_requester, invalid_request, " + SIGNATURE_422,
        s503="chain_unavailable, chain_rejected, block_missing",
    ),
)
def opinion(
    consultation_id: ConsultationIdPath,
    body: OpinionBody,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ConsultationOut:
    """Signed: `ConsultationOpinion(consultationId, opinionCid, opinionHash, deadline)`, the
    CID and SHA-256 of the opinion record's current body (as registered on chain)."""
    return _out(
        service.submit_opinion(
            ctx=ctx,
            db=db,
            principal=principal,
            consultation_id=consultation_id,
            record_id=body.record_id,
            signed=body.signed.action(),
        )
    )


@router.post(
    "/{consultation_id}/close",
    summary="Close with a conclusion record (the requesting doctor)",
    responses=error_responses(
        s401="unauthorized",
        s403="not_allowed, " + SIGNATURE_403,
        s404="consultation_not_found",
        s409="invalid_transition",
        s422="invalid_consultation_id, invalid_conclusion_record_id, unknown_record, "
        "invalid_record, invalid_request, " + SIGNATURE_422,
        s503="chain_unavailable, chain_rejected",
    ),
)
def close(
    consultation_id: ConsultationIdPath,
    body: CloseBody,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ConsultationOut:
    """Signed: `ConsultationClose(consultationId, conclusionCid, conclusionHash, deadline)`,
    the CID and SHA-256 of the conclusion record's current body."""
    return _out(
        service.close_consultation(
            ctx=ctx,
            db=db,
            principal=principal,
            consultation_id=consultation_id,
            conclusion_record_id=body.conclusion_record_id,
            signed=body.signed.action(),
        )
    )


@router.post(
    "/{consultation_id}/cancel",
    summary="Cancel an open consultation (the requesting doctor)",
    responses=error_responses(
        s401="unauthorized",
        s403="not_allowed, " + SIGNATURE_403,
        s404="consultation_not_found",
        s409="invalid_transition",
        s422="invalid_consultation_id, invalid_reason, invalid_request, " + SIGNATURE_422,
        s503="chain_unavailable, chain_rejected",
    ),
)
def cancel(
    consultation_id: ConsultationIdPath,
    body: ReasonBody,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ConsultationOut:
    """Signed: `ConsultationCancel(consultationId, reason, deadline)`."""
    return _out(
        service.cancel_consultation(
            ctx=ctx,
            db=db,
            principal=principal,
            consultation_id=consultation_id,
            signed=body.signed.action(),
            reason=body.reason,
        )
    )
