"""``/patients/{address}/timeline``: a patient's records and workflow events, newest first.

Thin: parse the query, call :func:`ledger_api.services.timeline.timeline`, shape the answer.
The response models document the two kinds of item (a record, a referral or consultation
event); the clinical content of a record never appears here, only its clear index entry.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crypto.addresses import to_checksum_address
from ledger_api.deps import ContextDep, DbDep, PrincipalDep
from ledger_api.inputs import Offset, uint_query
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import AddressPath
from ledger_api.services.access import parse_purpose
from ledger_api.services.timeline import DEFAULT_PURPOSES, MAX_PAGE, timeline

router = APIRouter(tags=["timeline"])


class InstitutionRef(BaseModel):
    id: int
    code: str | None
    name: str | None


class TimelineItemOut(BaseModel):
    """A record (``kind`` = record) or one transition of a referral or consultation."""

    kind: Literal["record", "referral", "consultation"]
    time: int = Field(description="Unix seconds the item is ordered by.")
    date: str = Field(description="The clinical date given at upload, else an ISO time (UTC).")
    date_source: Literal["clinical", "registered", "chain"]
    tx_hash: str | None
    block_number: int | None
    # records
    record_id: str | None = None
    record_type: str | None = None
    author: str | None = None
    institution: InstitutionRef | None = Field(
        None, description="The author's institution (none: the patient), or the requester's."
    )
    status: str | None = None
    may_open: bool | None = Field(None, description="Whether the caller may read the content.")
    purpose: str | None = Field(None, description="The purpose that opens it to the caller.")
    registered_at: int | None = None
    # workflow events
    workflow_id: str | None = None
    event: str | None = None
    state: str | None = None
    actor: str | None = None
    from_institution: InstitutionRef | None = None
    to_institution: InstitutionRef | None = None
    department: str | None = None
    invited_institutions: list[InstitutionRef] | None = None


class TimelineOut(BaseModel):
    patient: str
    items: list[TimelineItemOut]
    total: int
    offset: int
    limit: int


@router.get(
    "/patients/{address}/timeline",
    summary="A patient's records and referral / consultation events, newest first",
    responses=error_responses(
        s403="forbidden (the caller is neither the patient, nor a clinician this page "
        "concerns, nor an auditor)",
        s422="invalid_address, invalid_page, invalid_purpose, invalid_request",
        s503="chain_unavailable",
    ),
)
def patient_timeline(
    address: AddressPath,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    limit: uint_query(ge=1, le=MAX_PAGE) = 50,
    purpose: Annotated[
        str | None,
        Query(
            max_length=16,
            description="Only records this purpose opens [treatment, referral, consultation].",
        ),
    ] = None,
) -> TimelineOut:
    """Every record of the patient across institutions, with workflow events interleaved."""
    purposes = DEFAULT_PURPOSES if purpose is None else (parse_purpose(purpose),)
    page = timeline(
        ctx=ctx,
        db=db,
        principal=principal,
        patient=address,
        purposes=purposes,
        offset=offset,
        limit=limit,
    )
    items: list[Any] = [
        TimelineItemOut.model_validate({k: v for k, v in i.items() if k != "log_index"})
        for i in page.items
    ]
    return TimelineOut(
        patient=to_checksum_address(address),
        items=items,
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )
