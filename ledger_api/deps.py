"""Shared FastAPI dependencies (``Annotated`` aliases, FastAPI full-stack template style).

``PrincipalDep`` is the one gate every protected route passes: bearer token → live session →
``Consortium`` lookup → :class:`Principal`. ``require_roles`` narrows it further. Routes
declare what they need in their signature, so the authorisation of an endpoint is readable
where the endpoint is defined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ledger_api.config import Settings
from ledger_api.context import AppContext
from ledger_api.http_errors import ForbiddenError, UnauthorizedError
from ledger_api.principal import Principal
from ledger_api.services import auth as auth_service
from ledger_api.services.rate_limits import RateLimiter


def get_context(request: Request) -> AppContext:
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:  # the app was not started through its lifespan
        raise RuntimeError("the app context is not built; run the app with its lifespan")
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def client_ip(request: Request) -> str | None:
    """The peer's address as the server saw it (behind a proxy, the proxy's: run the proxy
    with its own per-client limits, or uvicorn with ``--proxy-headers`` from trusted hosts)."""
    return request.client.host if request.client else None


ClientIpDep = Annotated[str | None, Depends(client_ip)]


def get_limiter(ctx: ContextDep) -> RateLimiter:
    assert ctx.limiter is not None  # built with the context
    return ctx.limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


def get_settings(ctx: ContextDep) -> Settings:
    return ctx.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_db(ctx: ContextDep) -> Iterator[Session]:
    """A Session per request: committed when the handler returns, rolled back if it raises.

    ``scope="function"``: the commit happens before the response is sent, so a failed commit
    is the client's error response, never a 200 for something that was not saved. Services
    that must make something durable at a precise point (a nonce, a pending record, an
    access decision before any byte) still call ``db.commit()`` themselves.
    """
    session = ctx.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbDep = Annotated[Session, Depends(get_db, scope="function")]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError(
            "the Authorization header must be 'Bearer <token>'", code="bad_authorization"
        )
    return token.strip()


TokenDep = Annotated[str | None, Depends(bearer_token)]


def get_optional_principal(
    request: Request, ctx: ContextDep, db: DbDep, token: TokenDep
) -> Principal | None:
    if token is None:
        return None
    address = auth_service.session_address(db=db, token=token)
    # end the read transaction: on SQLite a handler that later writes would otherwise try to
    # upgrade a stale snapshot and fail with "database is locked" (see services.auth.login)
    db.rollback()
    principal = auth_service.principal_for(ctx=ctx, address=address)
    request.state.caller = principal.address
    return principal


OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


def get_principal(principal: OptionalPrincipalDep) -> Principal:
    if principal is None:
        raise UnauthorizedError("sign in first: Authorization: Bearer <token>")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str, consortium_admin: bool = False) -> Callable[[Principal], Principal]:
    """A dependency admitting active members with one of ``roles``.

    ``consortium_admin=True`` also admits the consortium admin whatever their role. Usage:
    ``Annotated[Principal, Depends(require_roles("auditor", consortium_admin=True))]``.
    """

    def dependency(principal: PrincipalDep) -> Principal:
        if principal.is_member and principal.role in roles:
            return principal
        if consortium_admin and principal.is_consortium_admin:
            return principal
        allowed = ", ".join(roles) + (" or consortium admin" if consortium_admin else "")
        raise ForbiddenError(f"this endpoint is for {allowed}", details={"role": principal.role})

    return dependency
