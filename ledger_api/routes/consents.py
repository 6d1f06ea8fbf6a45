"""``/consents``: relay patient-signed consents and revocations; list them.

Thin: request models and status codes here, the rules in :mod:`ledger_api.services.consents`.
"""

from __future__ import annotations

from typing import Annotated

import annotated_types as at
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from crypto.policy import MAX_POLICY_LENGTH
from ledger_api.deps import ContextDep, DbDep, PrincipalDep
from ledger_api.inputs import Offset, strict_uint, uint_query
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import (
    ADDRESS_CHARS,
    HEX32_CHARS,
    AddressQuery,
    PurposeField,
    SignatureField,
    Uint64Field,
)
from ledger_api.services import consent_queries as queries
from ledger_api.services import consents as service

router = APIRouter(prefix="/consents", tags=["consents"])

NonceField = Annotated[int, at.Ge(0), at.Le(service.MAX_NONCE), BeforeValidator(strict_uint)]


class ConsentFields(BaseModel):
    """The EIP-712 ``Consent`` the patient signed, field for field (snake_case)."""

    model_config = ConfigDict(extra="forbid")

    patient: str = Field(max_length=ADDRESS_CHARS, description="The patient's address (signer).")
    grantee: str | None = Field(
        None, max_length=ADDRESS_CHARS, description="Grantee address; omit for a policy consent."
    )
    grantee_policy_hash: str | None = Field(
        None,
        max_length=HEX32_CHARS,
        description="0x sha-256 of the normalized grantee policy; omit for an address.",
    )
    record_id: str | None = Field(
        None, max_length=HEX32_CHARS, description="One record (0x 32 bytes); omit = chart."
    )
    purpose: PurposeField = Field(0, description="0-4 or treatment|referral|consultation|…")
    not_before: Uint64Field = 0
    expires_at: Uint64Field
    nonce: NonceField


class ConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent: ConsentFields
    signature: SignatureField = Field(
        description="The patient's EIP-712 signature, 0x r‖s‖v (65 bytes)."
    )
    grantee_policy: str | None = Field(
        None,
        max_length=MAX_POLICY_LENGTH,
        description="The policy text behind grantee_policy_hash (kept in the index); required "
        "for a policy consent unless the index already has the text of that hash.",
    )


class RevocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent: ConsentFields
    nonce: NonceField
    deadline: Uint64Field
    signature: SignatureField


class RelayOut(BaseModel):
    consent_id: str
    tx_hash: str
    block_number: int


class ConsentOut(BaseModel):
    consent_id: str
    patient: str
    grantee: str | None
    grantee_policy_hash: str | None
    grantee_policy: str | None
    record_id: str | None
    purpose: str
    not_before: int
    expires_at: int
    nonce: str
    revoked: bool
    revoked_at: int | None
    superseded: bool
    active: bool
    expired: bool = Field(description="expires_at has passed (chain time)")
    tx_hash: str
    block_number: int
    granted_at: int


class ConsentPageOut(BaseModel):
    items: list[ConsentOut]
    total: int
    offset: int
    limit: int


@router.post(
    "",
    status_code=201,
    summary="Relay a patient-signed consent",
    responses={
        200: {
            "model": RelayOut,
            "description": "The consent was on chain already (nothing sent); its policy text, "
            "if it brought the missing one, is stored.",
        },
        **error_responses(
            s400="bad_signature",
            s401="unauthorized",
            s409="nonce_used",
            s422="invalid_consent, invalid_grantee, invalid_purpose, invalid_window, "
            "invalid_policy, policy_hash_mismatch, policy_text_required, invalid_request",
            s503="chain_unavailable, chain_rejected",
        ),
    },
)
def grant(
    body: ConsentRequest, response: Response, ctx: ContextDep, db: DbDep, principal: PrincipalDep
) -> RelayOut:
    """201 when relayed now; 200 for a consent already on chain (nothing is sent again), which
    stores the policy text if it brings the missing one."""
    result = service.relay_consent(
        ctx=ctx,
        db=db,
        principal=principal,
        consent=service.parse_consent(body.consent.model_dump()),
        signature=service.parse_signature(body.signature),
        grantee_policy=body.grantee_policy,
    )
    response.status_code = 201 if result.created else 200
    return RelayOut(
        consent_id=result.consent_id, tx_hash=result.tx_hash, block_number=result.block_number
    )


@router.post(
    "/revocations",
    summary="Relay a patient-signed revocation",
    responses=error_responses(
        s400="bad_signature",
        s401="unauthorized",
        s409="nonce_used, consent_not_in_force",
        s422="invalid_consent, revocation_expired, invalid_request",
        s503="chain_unavailable, chain_rejected",
    ),
)
def revoke(
    body: RevocationRequest, ctx: ContextDep, db: DbDep, principal: PrincipalDep
) -> RelayOut:
    result = service.relay_revocation(
        ctx=ctx,
        db=db,
        principal=principal,
        consent=service.parse_consent(body.consent.model_dump()),
        nonce=body.nonce,
        deadline=body.deadline,
        signature=service.parse_signature(body.signature),
    )
    return RelayOut(
        consent_id=result.consent_id, tx_hash=result.tx_hash, block_number=result.block_number
    )


@router.get(
    "",
    summary="Consents given by a patient or naming a grantee",
    responses=error_responses(
        s401="unauthorized",
        s403="forbidden",
        s422="invalid_consent, missing_filter, invalid_window, invalid_request",
    ),
)
def list_consents(
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    patient: AddressQuery = None,
    grantee: AddressQuery = None,
    offset: Offset = 0,
    limit: uint_query(ge=1, le=queries.MAX_LIMIT) = queries.DEFAULT_LIMIT,
    expiring_within: Annotated[
        str | None,
        Query(
            max_length=24,
            description=(
                "only consents in force that end within this long: seconds, or 30d / 12h;"
                " soonest first"
            ),
        ),
    ] = None,
) -> ConsentPageOut:
    page = queries.list_consents(
        ctx=ctx,
        db=db,
        principal=principal,
        patient=patient,
        grantee=grantee,
        offset=offset,
        limit=limit,
        expiring_within=expiring_within,
    )
    return ConsentPageOut(
        items=[ConsentOut(**item) for item in page.items],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )
