"""``/keys``: the key authority's public key, and attribute keys issued sealed to the caller.

Thin: the rules live in :mod:`ledger_api.services.authority`.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ledger_api.deps import ContextDep, DbDep, PrincipalDep
from ledger_api.routes.error_docs import error_responses
from ledger_api.services import authority as service

router = APIRouter(prefix="/keys", tags=["keys"])


class PublicKeyOut(BaseModel):
    scheme: str
    mpk: str = Field(description="The master public key file (CBOR), base64.")
    mpk_sha256: str


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x25519_public_key: str = Field(
        description="The caller's X25519 public key (32 bytes, base64) to seal the key to."
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
    responses=error_responses(s503="authority_unavailable"),
)
def public_key(ctx: ContextDep) -> PublicKeyOut:
    info = service.public_key(ctx=ctx)
    return PublicKeyOut(
        scheme=info.scheme, mpk=base64.b64encode(info.mpk).decode(), mpk_sha256=info.mpk_sha256
    )


@router.post(
    "/issue",
    summary="Issue the caller's attribute key, sealed to their X25519 key",
    responses=error_responses(
        s401="unauthorized",
        s403="member_suspended",
        s422="invalid_public_key, invalid_request",
        s503="authority_unavailable, chain_unavailable",
    ),
)
def issue(body: IssueRequest, ctx: ContextDep, db: DbDep, principal: PrincipalDep) -> IssuedKeyOut:
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
