"""``/audit``: the access log, and verification of the index and store against the chain.

Both endpoints admit auditors and the consortium admin; a patient may also list the access
events of their own chart (``patient=<their address>``). The rules live in the service, so a
call that bypasses HTTP is held to the same ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, Field

from ledger_api.deps import ContextDep, DbDep, PrincipalDep, require_roles
from ledger_api.inputs import MAX_BLOCK, Offset, short_text, strict_optional_uint, uint_query
from ledger_api.principal import Principal
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import HEX32_CHARS, AddressQuery
from ledger_api.services import audit as service

router = APIRouter(prefix="/audit", tags=["audit"])

BlockQuery = Annotated[
    int | None,
    Query(ge=0, le=MAX_BLOCK, description="A block number."),
    BeforeValidator(strict_optional_uint),
]

AuditorDep = Annotated[Principal, Depends(require_roles("auditor", consortium_admin=True))]


class AccessEventOut(BaseModel):
    record_id: str
    patient: str | None
    accessor: str
    purpose: str
    granted: bool
    reason_code: int
    block_number: int
    block_time: int
    tx_hash: str
    log_index: int
    repeats: int = Field(
        1,
        description="Identical denials (reader, record, purpose, reason) this entry stands "
        "for: the first is on chain, the repeats within the coalescing window are counted here.",
    )
    last_repeat_at: int | None = Field(None, description="Unix time of the last repeat.")
    app_id: str | None = Field(
        None, description="A read made for a SMART app: the app's marketplace listing id."
    )
    client_id_hash: str | None = Field(
        None, description="... and keccak-256 of its OAuth client id (AppAccessLogged)."
    )


class AccessEventPageOut(BaseModel):
    items: list[AccessEventOut]
    total: int
    offset: int
    limit: int


class VerifyOut(BaseModel):
    ok: bool = Field(description="Complete, and nothing found.")
    complete: bool = Field(
        description="Every block up to `to_block` was checked. When false, continue with "
        "`from_block = last_block_checked + 1`."
    )
    stopped_because: str | None = Field(
        None, description="`time_budget` or `problem_limit` when the call stopped early."
    )
    from_block: int
    to_block: int
    last_block_checked: int
    indexed_to: int
    not_yet_indexed: int
    chunks: int = Field(description="Windows of blocks read (one eth_getLogs each).")
    checked: dict[str, int]
    index_vs_chain: list[dict[str, Any]] = Field(
        description="Index rows against chain events, field by field, both directions."
    )
    bodies: list[dict[str, Any]] = Field(description="Stored blocks against on-chain digests.")
    read_signatures: list[dict[str, Any]] = Field(
        description="AccessLogged entries whose reader signature does not verify."
    )
    justifications: list[dict[str, Any]] = Field(
        description="Granted entries whose justification names nothing on chain that grants "
        "the read."
    )
    unhealed: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Acknowledged actions a chain rollback erased that could not be sent "
        "again (a signed deadline passed), and records whose storage slot survived without "
        "their event: each with `kind`, `key`, `reason` and the `repair` it needs.",
    )


@router.get(
    "/access-events",
    summary="Access decisions (granted and denied), newest first",
    description="Auditors and the consortium admin see every event; a patient sees the events "
    "of their own records only, by passing `patient=<their address>`.",
    responses=error_responses(
        s401="unauthorized", s403="forbidden", s422="invalid_input, invalid_request"
    ),
)
def access_events(
    db: DbDep,
    principal: PrincipalDep,
    patient: AddressQuery = None,
    record: Annotated[str | None, Query(max_length=HEX32_CHARS)] = None,
    accessor: AddressQuery = None,
    granted: Annotated[bool | None, Query()] = None,
    since: Annotated[
        datetime | None,
        Query(description="ISO 8601 or unix seconds", json_schema_extra={"maxLength": 40}),
        BeforeValidator(short_text),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(description="exclusive", json_schema_extra={"maxLength": 40}),
        BeforeValidator(short_text),
    ] = None,
    offset: Offset = 0,
    limit: uint_query(ge=1, le=service.MAX_LIMIT) = service.DEFAULT_LIMIT,
    app: Annotated[
        str | None,
        Query(max_length=HEX32_CHARS, description="a SMART app's listing id (0x…): its reads"),
    ] = None,
) -> AccessEventPageOut:
    page = service.list_access_events(
        db=db,
        principal=principal,
        patient=patient,
        record=record,
        accessor=accessor,
        granted=granted,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
        app=app,
    )
    return AccessEventPageOut(
        items=[AccessEventOut(**item) for item in page.items],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


class IssuerCountOut(BaseModel):
    issuer: str = Field(description="The issuing authority's address (checksummed).")
    count: int
    holders: int = Field(description="Distinct holders it issued keys to.")
    last_block: int
    last_tx_hash: str | None


class IssuerDayOut(BaseModel):
    day: str = Field(description="UTC date, YYYY-MM-DD.")
    issuer: str
    count: int


class KeyIssuancesOut(BaseModel):
    total: int
    by_issuer: list[IssuerCountOut] = Field(description="Most issuing authority first.")
    by_day: list[IssuerDayOut] = Field(description="Oldest day first.")


@router.get(
    "/key-issuances",
    summary="Attribute keys issued (KeyIssued on chain), per authority and per day",
    responses=error_responses(
        s401="unauthorized", s403="forbidden", s422="invalid_input, invalid_request"
    ),
)
def key_issuances(
    db: DbDep,
    principal: PrincipalDep,
    since: Annotated[
        datetime | None,
        Query(description="ISO 8601 or unix seconds", json_schema_extra={"maxLength": 40}),
        BeforeValidator(short_text),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(description="exclusive", json_schema_extra={"maxLength": 40}),
        BeforeValidator(short_text),
    ] = None,
) -> KeyIssuancesOut:
    """Auditors and the consortium admin: the charts of the auditors' console."""
    return KeyIssuancesOut(
        **service.key_issuance_stats(db=db, principal=principal, since=since, until=until)
    )


@router.get(
    "/verify",
    summary="Index vs chain, stored bodies vs on-chain digests, reads' signatures and grounds",
    description="Streams over the block range in chunks; one call stops at a chunk boundary "
    "when its time budget is spent or enough problems are listed (`complete` false): "
    "continue from `last_block_checked + 1`.",
    responses=error_responses(s401="unauthorized", s403="forbidden", s422="invalid_range"),
)
def verify(
    ctx: ContextDep,
    db: DbDep,
    principal: AuditorDep,
    from_block: BlockQuery = None,
    to_block: BlockQuery = None,
) -> VerifyOut:
    service.require_auditor(principal)
    report = service.verify(ctx=ctx, db=db, from_block=from_block, to_block=to_block)
    return VerifyOut(**report.as_dict())
