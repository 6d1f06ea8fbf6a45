"""``/referrals``: two-way referrals — request, transitions, work lists, one referral.

Thin: request and answer models and status codes here, the rules in
:mod:`ledger_api.services.referrals`. Reading the records a referral carries is
``GET /records/{id}/…?purpose=referral``, decided by :mod:`ledger_api.services.workflow_access`.

Every write carries ``signed`` (the actor's EIP-712 signature and its deadline, domain
"MedLedger Workflow"); each route's description says which message the API rebuilds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_api.deps import ContextDep, DbDep, PrincipalDep
from ledger_api.inputs import Offset, uint_query
from ledger_api.routes.consents import ConsentRequest
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import (
    AddressField,
    AddressQuery,
    Hex32Field,
    InstitutionField,
    ReferralIdPath,
    SignedIn,
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
from ledger_api.services import referral_queries as queries
from ledger_api.services import referrals as service
from ledger_api.services import workflows as wf

router = APIRouter(prefix="/referrals", tags=["referrals"])

_CREATE_422 = (
    "invalid_patient, invalid_referral_id, invalid_department, invalid_urgency, "
    "invalid_institution, invalid_reason_record_id, invalid_record_id, too_many_records, "
    "unknown_record, invalid_record, consent_required, consent_mismatch, consent_missing, "
    "invalid_consent, invalid_grantee, invalid_purpose, invalid_window, invalid_policy, "
    "policy_hash_mismatch, invalid_request, " + SIGNATURE_422
)


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    referral_id: Hex32Field = Field(
        description="0x + 32 random bytes chosen by the client, who signs it (a retry names "
        "the same id and signature)."
    )
    patient: AddressField
    to_institution: InstitutionField = Field(description="Receiving institution: id or code.")
    department: str = Field(
        max_length=64, description="Receiving department (its `dept:` attribute value)."
    )
    urgency: Literal["routine", "urgent", "emergency"] = "routine"
    reason_record_id: Hex32Field = Field(
        description="The referral letter: an encrypted record of the patient already uploaded."
    )
    record_ids: list[Hex32Field] = Field(
        default_factory=list,
        max_length=wf.MAX_RECORDS,
        description="Further records of the patient sent along.",
    )
    consents: list[ConsentRequest] = Field(
        max_length=wf.MAX_RECORDS + 1,
        description="The patient's consents, purpose `referral`, for the policy "
        "`org:<code> and dept:<department>` of the receiving side, together covering the "
        "reason and every record (one each, or one for the whole chart).",
    )
    signed: SignedIn = Field(
        description="The requesting doctor's signature of `ReferralRequest(referralId, "
        "patient, toInstitution (the id), recordId = reason_record_id, reason, deadline)`, "
        "`reason` being `crypto.signing.referral_manifest`: SHA-256 of the JSON "
        '`{"consent_ids", "department", "record_ids", "urgency"}` (sorted keys; ids sorted, '
        "lower-case hex; the normalized department; every carried record; the id of every "
        "consent sent)."
    )


class CompleteBody(StepBody):
    summary_record_id: Hex32Field = Field(
        description="The summary record: written and registered by the completing clinician "
        "after the referral was accepted, its policy admitting the requesting doctor, to whom "
        "alone it is shared back."
    )


class ReferralOut(BaseModel):
    referral_id: str
    patient: str
    from_institution: int
    to_institution: int
    department: str | None
    urgency: str | None
    audience_policy: str | None
    requester: str
    state: str
    open: bool
    reason_record_id: str | None
    manifest_sha256: str | None = Field(description="The on-chain reason: sha-256 of details.")
    record_ids: list[str]
    consent_ids: list[str]
    summary_record_id: str | None
    closing_reason: str | None
    created_at: int
    updated_at: int
    tx_hash: str
    block_number: int
    history: list[TransitionOut] | None = None


class ReferralPageOut(BaseModel):
    items: list[ReferralOut]
    total: int
    offset: int
    limit: int


def _out(view: dict[str, Any]) -> ReferralOut:
    return ReferralOut(**view)


@router.post(
    "",
    status_code=201,
    summary="Refer a patient to a department of another institution",
    responses=create_responses(ReferralOut, "referral", s422=_CREATE_422),
)
def create(
    body: ReferralCreate, response: Response, ctx: ContextDep, db: DbDep, principal: PrincipalDep
) -> ReferralOut:
    """201 with the new referral; 200 with it when the same request (same id) is retried.

    Signed: `ReferralRequest` (see `signed`), checked before the consents are relayed."""
    view, created = service.create_referral(
        ctx=ctx,
        db=db,
        principal=principal,
        patient=body.patient,
        to_institution=body.to_institution,
        department=body.department,
        urgency=body.urgency,
        reason_record_id=body.reason_record_id,
        record_ids=body.record_ids,
        consents=[c.model_dump() for c in body.consents],
        referral_id=body.referral_id,
        signed=body.signed.action(),
    )
    response.status_code = 201 if created else 200
    return _out(view)


_STEP_ERRORS = {
    "s401": "unauthorized",
    "s403": "not_allowed, " + SIGNATURE_403,
    "s404": "referral_not_found",
    "s409": "invalid_transition",
    "s503": "chain_unavailable, chain_rejected",
}


def _step(
    action: str,
    body: StepBody,
    *,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    referral_id: ReferralIdPath,
    reason: str | None = None,
    summary_record_id: str | None = None,
) -> ReferralOut:
    return _out(
        service.transition(
            ctx=ctx,
            db=db,
            principal=principal,
            referral_id=referral_id,
            action=action,
            signed=body.signed.action(),
            reason=reason,
            summary_record_id=summary_record_id,
        )
    )


_STEP_422 = "invalid_referral_id, invalid_request, " + SIGNATURE_422


@router.post(
    "/{referral_id}/accept",
    summary="Accept (a doctor of the receiving institution; from requested)",
    responses=error_responses(**_STEP_ERRORS, s422=_STEP_422),
)
def accept(
    referral_id: ReferralIdPath,
    body: StepBody,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ReferralOut:
    """Signed: `ReferralStep(referralId, action = 1, argument = 0, deadline)`."""
    return _step("accept", body, ctx=ctx, db=db, principal=principal, referral_id=referral_id)


@router.post(
    "/{referral_id}/reject",
    summary="Reject with a reason (a doctor of the receiving institution; from requested)",
    responses=error_responses(**_STEP_ERRORS, s422=_STEP_422 + ", reason_required, invalid_reason"),
)
def reject(
    referral_id: ReferralIdPath,
    body: ReasonBody,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ReferralOut:
    """Signed: `ReferralStep(referralId, action = 2, argument = reason, deadline)`."""
    return _step(
        "reject",
        body,
        ctx=ctx,
        db=db,
        principal=principal,
        referral_id=referral_id,
        reason=body.reason,
    )


@router.post(
    "/{referral_id}/arrive",
    summary="The patient checked in (a doctor or nurse of the receiving side; from accepted)",
    responses=error_responses(**_STEP_ERRORS, s422=_STEP_422),
)
def arrive(
    referral_id: ReferralIdPath,
    body: StepBody,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ReferralOut:
    """Signed: `ReferralStep(referralId, action = 3, argument = 0, deadline)`."""
    return _step("arrive", body, ctx=ctx, db=db, principal=principal, referral_id=referral_id)


@router.post(
    "/{referral_id}/complete",
    summary="Complete with a summary shared back to the requester (from accepted or arrived)",
    responses=error_responses(
        **_STEP_ERRORS,
        s422=_STEP_422 + ", summary_required, invalid_summary_record_id, unknown_record, "
        "invalid_record, summary_not_yours, summary_before_acceptance, summary_not_for_sender, "
        "invalid_summary",
    ),
)
def complete(
    referral_id: ReferralIdPath,
    body: CompleteBody,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ReferralOut:
    """Signed: `ReferralStep(referralId, action = 4, argument = summary_record_id,
    deadline)`. The summary must be the caller's own record, registered after the referral
    was accepted (the contract checks its institution and time too); it then becomes
    readable by the requesting doctor, and by no one else of the sending institution."""
    return _step(
        "complete",
        body,
        ctx=ctx,
        db=db,
        principal=principal,
        referral_id=referral_id,
        summary_record_id=body.summary_record_id,
    )


@router.post(
    "/{referral_id}/cancel",
    summary="Cancel (the requesting doctor; before acceptance)",
    responses=error_responses(**_STEP_ERRORS, s422=_STEP_422 + ", invalid_reason"),
)
def cancel(
    referral_id: ReferralIdPath,
    body: ReasonBody,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
) -> ReferralOut:
    """Signed: `ReferralStep(referralId, action = 5, argument = reason, deadline)`."""
    return _step(
        "cancel",
        body,
        ctx=ctx,
        db=db,
        principal=principal,
        referral_id=referral_id,
        reason=body.reason,
    )


@router.get(
    "",
    summary="Work lists: an institution's incoming / outgoing referrals; a patient's own",
    responses=error_responses(
        s401="unauthorized",
        s403="forbidden",
        s422="invalid_institution, invalid_direction, invalid_state, invalid_patient, "
        "invalid_page, invalid_request",
        s503="chain_unavailable",
    ),
)
def list_referrals(
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    institution: Annotated[
        str | None, Query(max_length=32, description="Id or code; default: caller's")
    ] = None,
    direction: Annotated[Literal["incoming", "outgoing", "both"], Query()] = "both",
    state: Annotated[
        str | None,
        Query(
            max_length=16,
            description="requested|accepted|arrived|completed|rejected|cancelled|open",
        ),
    ] = None,
    patient: AddressQuery = None,
    offset: Offset = 0,
    limit: uint_query(ge=1, le=wf.MAX_PAGE) = 50,
) -> ReferralPageOut:
    page = queries.list_referrals(
        ctx=ctx,
        db=db,
        principal=principal,
        institution=institution,
        direction=direction,
        state=state,
        patient=patient,
        offset=offset,
        limit=limit,
    )
    return page_out(ReferralPageOut, page, _out)


@router.get(
    "/{referral_id}",
    summary="One referral with its records and history (each transition with its tx)",
    responses=error_responses(
        s401="unauthorized",
        s403="forbidden",
        s404="referral_not_found",
        s422="invalid_referral_id",
    ),
)
def show(
    referral_id: ReferralIdPath, ctx: ContextDep, db: DbDep, principal: PrincipalDep
) -> ReferralOut:
    return _out(queries.get_referral(ctx=ctx, db=db, principal=principal, referral_id=referral_id))
