"""``/auth``: SIWE nonce, login, logout, and who am I."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ledger_api.deps import (
    ClientIpDep,
    ContextDep,
    DbDep,
    LimiterDep,
    PrincipalDep,
    TokenDep,
)
from ledger_api.http_errors import UnauthorizedError
from ledger_api.principal import Principal
from ledger_api.routes.fields import ADDRESS_CHARS
from ledger_api.services import auth as auth_service

router = APIRouter(prefix="/auth", tags=["auth"])

_ERRORS = {401: {"description": "sign-in refused; error.code says why (siwe_*)"}}


class NonceRequest(BaseModel):
    address: str = Field(
        max_length=ADDRESS_CHARS, description="the Ethereum address that will sign in (any case)"
    )


class NonceResponse(BaseModel):
    nonce: str
    address: str
    domain: str
    uri: str
    chain_id: int
    version: str = "1"
    issued_at: datetime
    expiration_time: datetime
    expires_at: datetime


class LoginRequest(BaseModel):
    message: str = Field(max_length=8192, description="the EIP-4361 message text, as signed")
    signature: str = Field(max_length=200, description="0x-hex personal_sign signature")


class PrincipalOut(BaseModel):
    address: str
    role: str
    institution_id: int
    institution_code: str | None
    attributes: list[str]
    active: bool
    is_consortium_admin: bool
    is_institution_admin: bool
    abe_attributes: list[str]

    @classmethod
    def of(cls, p: Principal) -> PrincipalOut:
        return cls(
            address=p.address,
            role=p.role,
            institution_id=p.institution_id,
            institution_code=p.institution_code,
            attributes=list(p.attributes),
            active=p.active,
            is_consortium_admin=p.is_consortium_admin,
            is_institution_admin=p.is_institution_admin,
            abe_attributes=list(p.abe_attributes()),
        )


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime
    address: str
    role: str
    institution_id: int
    attributes: list[str]


@router.post("/nonce", summary="A single-use SIWE nonce for an address")
def nonce(
    body: NonceRequest, ctx: ContextDep, db: DbDep, limiter: LimiterDep, ip: ClientIpDep
) -> NonceResponse:
    limiter.hit("nonce", ip=ip)
    grant = auth_service.issue_nonce(ctx=ctx, db=db, address=body.address)
    return NonceResponse(
        nonce=grant.nonce,
        address=grant.address,
        domain=grant.domain,
        uri=grant.uri,
        chain_id=grant.chain_id,
        issued_at=grant.issued_at,
        expiration_time=grant.expires_at,
        expires_at=grant.expires_at,
    )


@router.post(
    "/login", summary="Exchange a signed EIP-4361 message for a session", responses=_ERRORS
)
def login(
    body: LoginRequest, ctx: ContextDep, db: DbDep, limiter: LimiterDep, ip: ClientIpDep
) -> LoginResponse:
    limiter.hit("sign_in", ip=ip)  # per address once the signature verifies (services.auth)
    result = auth_service.login(ctx=ctx, db=db, message=body.message, signature=body.signature)
    p = result.principal
    return LoginResponse(
        token=result.token,
        expires_at=result.expires_at,
        address=p.address,
        role=p.role,
        institution_id=p.institution_id,
        attributes=list(p.attributes),
    )


@router.post("/logout", status_code=204, summary="Revoke this session", responses=_ERRORS)
def logout(principal: PrincipalDep, db: DbDep, token: TokenDep) -> None:
    if token is None:  # pragma: no cover - PrincipalDep already required it
        raise UnauthorizedError("sign in first")
    auth_service.logout(db=db, token=token)


@router.get("/me", summary="The caller as the API sees them now", responses=_ERRORS)
def me(principal: PrincipalDep) -> PrincipalOut:
    return PrincipalOut.of(principal)
