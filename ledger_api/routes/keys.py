"""``/keys``: the key authority's public key (with the membership epoch policies are written
with), attribute keys issued sealed to the caller, and the epochs and stale records.

Thin: the rules live in :mod:`ledger_api.services.authority`.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ledger_api.deps import ClientIpDep, ContextDep, DbDep, LimiterDep, PrincipalDep
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import ADDRESS_CHARS
from ledger_api.services import authority as service
from ledger_api.services import epochs

router = APIRouter(prefix="/keys", tags=["keys"])


class PublicKeyOut(BaseModel):
    scheme: str
    mpk: str = Field(description="The master public key file (CBOR), base64.")
    mpk_sha256: str
    epoch: int = Field(description="The current membership epoch: policies AND epoch:<epoch>.")
    floor: int = Field(description="The oldest epoch an active record still uses.")


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x25519_public_key: str = Field(
        max_length=64,
        description="The caller's X25519 public key (32 bytes, base64) to seal the key to.",
    )


class IssuedKeyOut(BaseModel):
    sealed_key: str = Field(description="The user key in a sealed box (CBOR), base64.")
    holder: str
    attributes: list[str]
    attributes_hash: str
    epoch: int
    tx_hash: str
    block_number: int


@router.get(
    "/public",
    summary="The master public key every record is encrypted under",
    responses=error_responses(s503="authority_unavailable, escrow_free"),
)
def public_key(ctx: ContextDep, db: DbDep) -> PublicKeyOut:
    info = service.public_key(ctx=ctx, db=db)
    return PublicKeyOut(
        scheme=info.scheme,
        mpk=base64.b64encode(info.mpk).decode(),
        mpk_sha256=info.mpk_sha256,
        epoch=info.epoch,
        floor=info.floor,
    )


class EpochOut(BaseModel):
    epoch: int
    reason: str
    reason_text: str | None
    block_number: int
    block_time: int
    tx_hash: str


class EpochsOut(BaseModel):
    current: int
    floor: int
    history: list[EpochOut]


@router.get(
    "/epochs",
    summary="The current membership epoch, the floor and every advance (from the index)",
    responses=error_responses(s503="chain_unavailable"),
)
def epoch_list(ctx: ContextDep, db: DbDep) -> EpochsOut:
    floor, current = epochs.key_epochs(ctx, db)
    return EpochsOut(
        current=current,
        floor=floor,
        history=[
            EpochOut(
                epoch=row.epoch,
                reason=row.reason,
                reason_text=row.reason_text,
                block_number=row.block_number,
                block_time=row.block_time,
                tx_hash=row.tx_hash,
            )
            for row in epochs.epoch_history(db)
        ],
    )


class StaleRecordOut(BaseModel):
    record_id: str
    patient: str
    author: str | None
    author_institution: int | None
    epoch: int = Field(description="The epoch the record's policy uses (0: none).")
    full: bool = Field(description="A member who left since read it: re-encrypt the body.")
    fetched_by: list[str]


class StaleOut(BaseModel):
    current: int
    items: list[StaleRecordOut]


@router.get(
    "/epochs/stale",
    summary="Active records whose policy uses an epoch older than the current one",
    responses=error_responses(
        s401="unauthorized",
        s403="not_record_manager",
        s404="institution_not_found",
        s422="invalid_request",
    ),
)
def stale(
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    institution: Annotated[
        str | None, Query(max_length=32, description="An institution code.")
    ] = None,
    patient: Annotated[
        str | None, Query(max_length=ADDRESS_CHARS, description="The caller's own address.")
    ] = None,
) -> StaleOut:
    current, items = epochs.list_stale(
        ctx=ctx, db=db, principal=principal, institution=institution, patient=patient
    )
    return StaleOut(
        current=current,
        items=[
            StaleRecordOut(
                record_id=r.record_id,
                patient=r.patient,
                author=r.author,
                author_institution=r.author_institution,
                epoch=r.epoch,
                full=r.full,
                fetched_by=r.fetched_by,
            )
            for r in items
        ],
    )


@router.post(
    "/issue",
    summary="Issue the caller's attribute key, sealed to their X25519 key",
    responses=error_responses(
        s401="unauthorized",
        s403="member_suspended",
        s422="invalid_public_key, invalid_request",
        s503="authority_unavailable, escrow_free, chain_unavailable",
    ),
)
def issue(
    body: IssueRequest,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    limiter: LimiterDep,
    ip: ClientIpDep,
) -> IssuedKeyOut:
    limiter.hit("key_issue", address=principal.address, ip=ip, principal=principal)
    issued = service.issue_key(
        ctx=ctx,
        db=db,
        principal=principal,
        recipient_public_key=service.decode_x25519_public_key(body.x25519_public_key),
    )
    return IssuedKeyOut(
        sealed_key=base64.b64encode(issued.sealed_key).decode(),
        holder=issued.holder,
        attributes=list(issued.attributes),
        attributes_hash="0x" + issued.attributes_hash.hex(),
        epoch=issued.epoch,
        tx_hash=issued.tx_hash,
        block_number=issued.block_number,
    )
