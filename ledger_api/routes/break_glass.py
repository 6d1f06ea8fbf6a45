"""Break-glass emergency access: open, the review queue, reviews, and a patient's openings.

The API issues no emergency key: a record's emergency slot opens only with the decryption
shares of t of the n institutions' authorities (``docs/break-glass.md``).

Thin: the rules live in :mod:`ledger_api.services.break_glass` (writes, gate) and
:mod:`ledger_api.services.break_glass_queries` (listings).

Openings and reviews carry their actor's EIP-712 signature (``signed``, domain "MedLedger
EmergencyAccess"); a co-signature past the daily cap is a second doctor's signature of the
same opening. The API rebuilds each message from the request and refuses a signature that is
not the caller's (403 ``signer_mismatch``); the contract checks them again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from crypto.addresses import to_checksum_address
from ledger_api.deps import ContextDep, DbDep, PrincipalDep
from ledger_api.http_errors import UnprocessableError
from ledger_api.inputs import Offset, uint_query
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import (
    AddressField,
    AddressPath,
    Hex32Field,
    OpeningIdPath,
    SignatureField,
    SignedIn,
    Uint64Field,
)
from ledger_api.services import break_glass as service
from ledger_api.services import break_glass_queries as queries
from ledger_api.services.access import chain_required
from ledger_api.services.chain_time import latest_block_time

router = APIRouter(tags=["break-glass"])


class CosignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    co_signer: AddressField = Field(description="The second doctor's address.")
    deadline: Uint64Field = Field(
        description="Unix seconds (chain time) the signature is valid to: at most an hour "
        "after the chain's time when the opening is sent."
    )
    signature: SignatureField = Field(
        description="The second doctor's EIP-712 signature of `BreakGlassCosign(openingId, "
        "clinician (the opener), patient, reasonHash, deadline)`: valid for this opening only."
    )


class OpenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient: AddressField
    reason: str = Field(
        max_length=2000,
        description="Why (10-500 characters, trimmed); its keccak-256 goes on chain.",
    )
    opening_id: Hex32Field = Field(
        description="0x + 32 random bytes chosen by the opener (signed; used once)."
    )
    window: int | None = Field(
        default=None,
        ge=0,
        le=24 * 3600,
        description="Seconds the chart stays open (signed); default and maximum: the API's "
        "configured window.",
    )
    signed: SignedIn = Field(
        description="The opener's signature of `BreakGlassOpen(id = opening_id, patient, "
        "reasonHash = keccak256(reason), window, deadline)`."
    )
    cosignature: CosignatureIn | None = Field(
        default=None, description="Required beyond the daily cap (429 break_glass_cap)."
    )


class OpeningOut(BaseModel):
    id: str
    clinician: str
    patient: str
    reason: str | None
    reason_hash: str
    co_signer: str | None
    opened_at: int
    expires_at: int
    open: bool
    tx_hash: str
    block_number: int
    reviewed: bool
    justified: bool | None
    reviewer: str | None
    review_note: str | None
    reviewed_at: int | None
    review_tx_hash: str | None


class OpeningPageOut(BaseModel):
    items: list[OpeningOut]
    total: int
    offset: int
    limit: int


class CountOut(BaseModel):
    patient: str
    count: int = Field(description="Break-glass openings of the chart so far: the bg:<n> to write.")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    justified: bool
    note: str = Field(
        max_length=4000,
        description="1-1000 characters (trimmed); its keccak-256 goes on chain.",
    )
    signed: SignedIn = Field(
        description="The auditor's signature of `BreakGlassReview(id, justified, "
        "noteHash = keccak256(note), deadline)`."
    )


def _signature(text: str) -> bytes:
    raw = text.removeprefix("0x")
    try:
        signature = bytes.fromhex(raw)
    except ValueError:
        signature = b""
    if len(signature) != 65:
        raise UnprocessableError(
            "invalid co-signature: the signature must be 0x + 130 hex digits",
            code="invalid_cosignature",
        )
    return signature


def _now(ctx: Any) -> int:
    with chain_required("cannot read the chain time"):
        return latest_block_time(ctx)


def _page(page: queries.OpeningPage) -> OpeningPageOut:
    return OpeningPageOut(
        items=[OpeningOut(**item) for item in page.items],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post(
    "/break-glass",
    status_code=201,
    summary="Open a patient's records for emergency use (a doctor, with a reason)",
    responses=error_responses(
        s401="unauthorized",
        s403="not_a_doctor, not_allowed, signer_mismatch",
        s409="duplicate_id",
        s422="invalid_patient, invalid_reason, invalid_id, invalid_window, "
        "invalid_cosignature, invalid_request, invalid_signature, signature_expired, "
        "deadline_too_far",
        s429="break_glass_cap",
        s503="chain_unavailable, chain_rejected",
    ),
)
def open_break_glass(
    body: OpenIn, ctx: ContextDep, db: DbDep, principal: PrincipalDep
) -> OpeningOut:
    """Signed: the opener's `BreakGlassOpen` (see `signed`); past the daily cap (read from
    the contract, which enforces it) also a second active doctor's `BreakGlassCosign` of the
    same opening id, valid for at most an hour."""
    cosig = None
    if body.cosignature is not None:
        cosig = service.Cosignature(
            co_signer=body.cosignature.co_signer,
            deadline=body.cosignature.deadline,
            signature=_signature(body.cosignature.signature),
        )
    opened = service.open_break_glass(
        ctx=ctx,
        db=db,
        principal=principal,
        patient=body.patient,
        reason=body.reason,
        opening_id=body.opening_id,
        signed=body.signed.action(),
        window=body.window,
        cosignature=cosig,
    )
    return OpeningOut(**opened)


@router.get(
    "/audit/break-glass",
    summary="Break-glass openings, newest first (reviewed=false: the review queue)",
    responses=error_responses(s401="unauthorized", s403="forbidden", s422="invalid_paging"),
)
def review_queue(
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    reviewed: Annotated[bool | None, Query()] = None,
    offset: Offset = 0,
    limit: uint_query(ge=1, le=queries.MAX_LIMIT) = queries.DEFAULT_LIMIT,
) -> OpeningPageOut:
    queries.require_overseer(principal)
    page = queries.review_queue(
        db=db, principal=principal, now=_now(ctx), reviewed=reviewed, offset=offset, limit=limit
    )
    return _page(page)


@router.post(
    "/audit/break-glass/{opening_id}/review",
    summary="Record an auditor's review of an opening (justified or not) on chain",
    responses=error_responses(
        s401="unauthorized",
        s403="forbidden, not_allowed, signer_mismatch",
        s404="break_glass_not_found",
        s409="already_reviewed",
        s422="invalid_note, invalid_id, invalid_request, invalid_signature, signature_expired, "
        "deadline_too_far",
        s503="chain_unavailable, chain_rejected",
    ),
)
def review(
    opening_id: OpeningIdPath, body: ReviewIn, ctx: ContextDep, db: DbDep, principal: PrincipalDep
) -> OpeningOut:
    """Signed: the auditor's `BreakGlassReview` (see `signed`); an opening is reviewed once."""
    reviewed = service.review(
        ctx=ctx,
        db=db,
        principal=principal,
        opening_id=opening_id,
        justified=body.justified,
        note=body.note,
        signed=body.signed.action(),
    )
    return OpeningOut(**reviewed)


@router.get(
    "/patients/{address}/break-glass",
    summary="The break-glass openings of a patient's chart (the patient, auditors, admin)",
    responses=error_responses(
        s401="unauthorized", s403="forbidden", s422="invalid_address, invalid_paging"
    ),
)
def patient_openings(
    address: AddressPath,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    limit: uint_query(ge=1, le=queries.MAX_LIMIT) = queries.DEFAULT_LIMIT,
) -> OpeningPageOut:
    page = queries.patient_openings(
        db=db, principal=principal, patient=address, now=_now(ctx), offset=offset, limit=limit
    )
    return _page(page)


@router.get(
    "/patients/{address}/break-glass/count",
    summary="How many break-glass openings a chart has had (the bg:<n> of new record policies)",
    responses=error_responses(s401="unauthorized", s403="not_author", s422="invalid_address"),
)
def opening_count(address: AddressPath, db: DbDep, principal: PrincipalDep) -> CountOut:
    count = queries.opening_count(db=db, principal=principal, patient=address)
    return CountOut(patient=to_checksum_address(address), count=count)
