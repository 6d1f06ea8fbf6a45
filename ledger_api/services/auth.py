"""Sign-In with Ethereum (EIP-4361) sessions, and who a session's address is on chain.

Flow: ``issue_nonce`` hands out a random nonce bound to one address (stored with its expiry);
the wallet signs an EIP-4361 message carrying it; ``login`` verifies the message
(:func:`crypto.siwe.verify`: signature, domain, chain id, nonce, time), consumes the nonce
with ``UPDATE … WHERE used_at IS NULL`` in the same transaction that creates the session, so
a nonce opens at most one session even under concurrent replays. The session token is 32
random bytes; only its SHA-256 is stored (a leaked index does not leak live sessions).

A nonce row's ``used_by`` holds the address it was issued for from the start, so a nonce
requested for one address cannot be used to sign in as another.

``principal_for`` asks ``Consortium`` on every lookup (behind a cache of a few seconds),
never the session: a suspension takes effect within seconds, not at the next login.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from eth_utils import is_address
from sqlalchemy.orm import Session
from web3.exceptions import Web3Exception

from crypto import siwe
from crypto.addresses import to_checksum_address
from crypto.errors import (
    SiweAddressError,
    SiweChainIdError,
    SiweDomainError,
    SiweError,
    SiweExpiredError,
    SiweMalformedError,
    SiweNonceError,
    SiweNotYetValidError,
    SiweSignatureError,
)
from ledger_api.chain.consortium import Role
from ledger_api.chain.errors import ChainError
from ledger_api.config import Settings
from ledger_api.context import AppContext
from ledger_api.http_errors import ServiceUnavailableError, UnauthorizedError, UnprocessableError
from ledger_api.inputs import quote
from ledger_api.principal import Principal
from storage.models import ApiSession, SiweNonce

log = logging.getLogger("ledger_api.auth")

# SiweError subclass → the stable 401 code clients branch on
SIWE_CODES: dict[type[SiweError], str] = {
    SiweMalformedError: "siwe_malformed",
    SiweAddressError: "siwe_malformed",
    # defined below: a URI or resource of another origin (a phishing page's message)
    SiweSignatureError: "siwe_signature",
    SiweDomainError: "siwe_domain",
    SiweChainIdError: "siwe_chain",
    SiweNonceError: "siwe_nonce",
    SiweExpiredError: "siwe_expired",
    SiweNotYetValidError: "siwe_not_yet_valid",
}

_ROLE_NAMES = {
    Role.DOCTOR: "doctor",
    Role.NURSE: "nurse",
    Role.AUDITOR: "auditor",
    Role.KEY_AUTHORITY: "key_authority",
    Role.RELAYER: "relayer",
    Role.GATEWAY: "gateway",
}


class SiweLoginError(UnauthorizedError):
    """A refused sign-in; ``code`` is one of :data:`SIWE_CODES`' values."""


@dataclass(frozen=True, kw_only=True)
class NonceGrant:
    nonce: str
    address: str
    domain: str
    uri: str
    chain_id: int
    issued_at: datetime
    expires_at: datetime

    def message(self, *, statement: str | None = None) -> siwe.SiweMessage:
        """The EIP-4361 message a wallet should sign for this nonce (clients and tests)."""
        return siwe.SiweMessage(
            domain=self.domain,
            address=self.address,
            uri=self.uri,
            chain_id=self.chain_id,
            nonce=self.nonce,
            issued_at=self.issued_at,
            expiration_time=self.expires_at,
            statement=statement,
        )


@dataclass(frozen=True, kw_only=True)
class LoginResult:
    token: str
    expires_at: datetime
    principal: Principal


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def checked_address(value: str) -> str:
    """A checksummed address, or 422: accepting any case, refusing anything else."""
    if not isinstance(value, str) or not is_address(value):
        raise UnprocessableError(f"not an Ethereum address: {quote(value)}", code="invalid_address")
    return to_checksum_address(value)


class SiweOriginError(SiweError):
    """The message's ``URI`` or a ``Resources`` entry is not of this server's origin."""


def origin(uri: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of a URI, lower-cased, with the scheme's default port."""
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: no origin at all
        return ("", "", None)
    scheme = parts.scheme.lower()
    return (scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme))


_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_origin(message: siwe.SiweMessage, settings: Settings) -> None:
    """EIP-4361 binds a signature to the relying party by ``domain``, ``scheme`` and ``URI``;
    a server that checks only the domain accepts a message a phishing page had signed for
    itself (``URI: https://phish.example/login``). The URI must be of ``siwe_uri``'s origin,
    and so must each resource, unless it starts with one of ``siwe_allowed_resources``."""
    expected = origin(settings.siwe_uri)
    if origin(message.uri) != expected:
        raise SiweOriginError(
            f"message URI {quote(message.uri, 64)} is not of this server's origin "
            f"{quote(settings.siwe_uri, 64)}"
        )
    for resource in message.resources:
        if origin(resource) == expected or any(
            resource.startswith(prefix) for prefix in settings.siwe_allowed_resources
        ):
            continue
        raise SiweOriginError(f"resource {quote(resource, 64)} is not one this server accepts")


SIWE_CODES[SiweOriginError] = "siwe_uri"


def issue_nonce(
    *, ctx: AppContext, db: Session, address: str, now: datetime | None = None
) -> NonceGrant:
    """Store a fresh single-use nonce for ``address`` and return the message fields."""
    now = now or utcnow()
    account = checked_address(address)
    expires_at = now + timedelta(seconds=ctx.settings.nonce_ttl_seconds)
    nonce = siwe.generate_nonce()
    # Anyone may ask for nonces, so expired ones are dropped as new ones are handed out: the
    # table stays as small as the nonces live right now (an indexed range delete).
    db.execute(sa.delete(SiweNonce).where(SiweNonce.expires_at < now))
    db.add(SiweNonce(nonce=nonce, issued_at=now, expires_at=expires_at, used_by=account))
    db.commit()
    return NonceGrant(
        nonce=nonce,
        address=account,
        domain=ctx.settings.siwe_domain,
        uri=ctx.settings.siwe_uri,
        chain_id=ctx.deployment.chain_id,
        issued_at=now,
        expires_at=expires_at,
    )


def login(
    *,
    ctx: AppContext,
    db: Session,
    message: str,
    signature: str,
    now: datetime | None = None,
) -> LoginResult:
    """Verify a signed SIWE message, consume its nonce, open a session.

    Raises :class:`SiweLoginError` (401) with the precise code; nothing is written then.
    """
    now = now or utcnow()
    try:
        parsed = siwe.parse(message)
        row = db.get(SiweNonce, parsed.nonce)
        if row is None:
            raise SiweNonceError("unknown nonce: request one from POST /auth/nonce")
        verified = siwe.verify(
            message,
            signature,
            expected_domain=ctx.settings.siwe_domain,
            expected_chain_id=ctx.deployment.chain_id,
            expected_nonce=row.nonce,
            now=now,
            max_age=timedelta(seconds=ctx.settings.nonce_ttl_seconds),
            expected_scheme=urlsplit(ctx.settings.siwe_uri).scheme or None,
        )
        check_origin(verified, ctx.settings)
        if row.used_at is not None:
            raise SiweNonceError("nonce already used")
        if now >= row.expires_at:
            raise SiweExpiredError("nonce expired: request a new one")
        if row.used_by is not None and row.used_by != verified.address.lower():
            raise SiweNonceError("nonce was issued for another address")
    except SiweError as exc:
        code = SIWE_CODES.get(type(exc), "siwe_malformed")
        ctx.metrics.login(code)
        log.warning("sign-in refused: %s", code, extra={"code": code, "reason": str(exc)})
        db.rollback()
        raise SiweLoginError(str(exc), code=code) from exc
    except ValueError as exc:  # a signature that is not hex at all
        ctx.metrics.login("siwe_signature")
        db.rollback()
        raise SiweLoginError(f"invalid signature: {exc}", code="siwe_signature") from exc

    # A sign-in counts against its address only now that the signature is known to be the
    # address's own: failing logins in someone's name cannot lock them out. Before the nonce
    # is spent, so a refused (429) message can be sent again after Retry-After.
    if ctx.limiter is not None:
        account = principal_for(ctx=ctx, address=verified.address)
        db.rollback()
        ctx.limiter.hit("sign_in", address=verified.address, principal=account)

    # End the read transaction before writing: on SQLite (WAL) a read transaction that tries
    # to become a writer after another connection (the indexer) committed fails at once with
    # "database is locked" (SQLITE_BUSY_SNAPSHOT, no busy wait). A fresh transaction whose
    # first statement writes waits for the lock instead. The WHERE clause re-checks unused
    # and unexpired, so the two-step shape loses no atomicity.
    nonce = row.nonce
    db.rollback()
    consumed = db.execute(
        sa.update(SiweNonce)
        .where(
            SiweNonce.nonce == nonce,
            SiweNonce.used_at.is_(None),
            SiweNonce.expires_at > now,
        )
        .values(used_at=now)
    )
    if consumed.rowcount != 1:  # a concurrent login with the same nonce won
        db.rollback()
        ctx.metrics.login("siwe_nonce")
        raise SiweLoginError("nonce already used", code="siwe_nonce")
    expires_at = now + timedelta(seconds=ctx.settings.session_ttl_seconds)
    token = secrets.token_urlsafe(32)
    db.add(
        ApiSession(
            token_hash=token_hash(token),
            address=verified.address,
            chain_id=verified.chain_id,
            issued_at=now,
            expires_at=expires_at,
        )
    )
    db.commit()
    ctx.metrics.login("ok")
    log.info("signed in", extra={"address": verified.address, "session_expires": expires_at})
    principal = principal_for(ctx=ctx, address=verified.address)
    return LoginResult(token=token, expires_at=expires_at, principal=principal)


def session_address(*, db: Session, token: str, now: datetime | None = None) -> str:
    """The checksummed address of a live session, or 401 (unknown, revoked or expired)."""
    now = now or utcnow()
    row = db.get(ApiSession, token_hash(token)) if token else None
    if row is None or row.revoked:
        raise UnauthorizedError("unknown or revoked session token", code="session_invalid")
    if now >= row.expires_at:
        raise UnauthorizedError("session expired: sign in again", code="session_expired")
    return to_checksum_address(row.address)


def logout(*, db: Session, token: str, now: datetime | None = None) -> None:
    """Revoke the session of ``token`` (the token stops working immediately).

    One UPDATE (no read first) for the same SQLite reason as in :func:`login`.
    """
    now = now or utcnow()
    db.rollback()
    revoked = db.execute(
        sa.update(ApiSession)
        .where(ApiSession.token_hash == token_hash(token), ApiSession.revoked.is_(False))
        .values(revoked=True, revoked_at=now)
    )
    if revoked.rowcount != 1:
        db.rollback()
        raise UnauthorizedError("unknown or revoked session token", code="session_invalid")
    db.commit()


def principal_for(*, ctx: AppContext, address: str) -> Principal:
    """What ``Consortium`` says about ``address`` now (cached ``principal_cache_seconds``)."""
    account = to_checksum_address(address)
    clock = time.monotonic()
    cached = ctx.principals.get(account, clock)
    if cached is not None:
        return cached
    principal = read_principal(ctx=ctx, address=account)
    ctx.principals.put(account, principal, clock)
    return principal


def read_principal(*, ctx: AppContext, address: str) -> Principal:
    """Ask ``Consortium`` (4 calls at most); an unreachable node is a 503, not a 500."""
    try:
        return _read_principal(ctx=ctx, address=address)
    except (ChainError, Web3Exception, OSError) as exc:
        raise ServiceUnavailableError(
            f"cannot read Consortium for {address}: {exc}", code="chain_unavailable"
        ) from exc


def _read_principal(*, ctx: AppContext, address: str) -> Principal:
    consortium = ctx.chain.consortium
    info = consortium.member_info(address)
    is_consortium_admin = consortium.admin() == address
    if info.role == Role.NONE:
        return Principal(address=address, role="patient", is_consortium_admin=is_consortium_admin)
    institution = consortium.institution(info.institution_id) if info.institution_id else None
    attributes = tuple(consortium.attributes_of(address)) if info.active else ()
    return Principal(
        address=address,
        # a suspended member (or one of a suspended institution) has no member rights
        role=_ROLE_NAMES[info.role] if info.active else "patient",
        institution_id=info.institution_id,
        institution_code=institution.code if institution else None,
        attributes=attributes,
        active=info.active,
        is_consortium_admin=is_consortium_admin,
        is_institution_admin=bool(institution and institution.admin == address and info.active),
    )
