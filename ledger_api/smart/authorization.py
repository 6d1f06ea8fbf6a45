"""The user's approval and the patient's revocation of an app, on chain.

Approving an app on the consent screen is an action in the user's name, so it carries the
user's EIP-712 ``AppAuthorization`` (app, OAuth client, patient, the hash of the granted
scopes) and goes on chain through ``Marketplace.authorizeApp`` before any code is issued: every
token an app holds comes from an authorisation the auditor sees on chain, with the app's client
id. The contract refuses it when the user's institution has not installed the app, when a
patient authorises for someone else, or when the patient revoked the app.

A patient's revocation (``AppRevocation``, ``Marketplace.revokeApp``) is on chain too and takes
effect at once: the API revokes the app's tokens for the chart in the same request, and every
later read for the app checks ``appRevokedAt`` on chain (``ledger_api.smart.reads``).

The API checks each signature itself first (a precise 4xx, nothing sent); the contract checks
it again, so a relayer alone can neither approve an app nor lift a revocation.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from crypto.signing import AppAuthorization, AppRevocation, client_id_hash, scope_hash
from ledger_api.http_errors import UnprocessableError
from ledger_api.services.access import chain_required
from ledger_api.services.marketplace_actions import send_marketplace
from ledger_api.services.signed_actions import check_signed_by_caller, parse_signature

if TYPE_CHECKING:
    from ledger_api.context import AppContext
    from ledger_api.principal import Principal

MAX_DEADLINE_SECONDS = 3600


def signing_context(ctx: AppContext, principal: Principal, **fields: Any) -> dict[str, Any]:
    """What the page needs to sign an app action: chain id, the Marketplace's address, and the
    message's fixed members (``fields``, hex strings and addresses)."""
    return {
        "chain_id": ctx.deployment.chain_id,
        "verifying_contract": ctx.deployment.address("Marketplace"),
        "user": principal.address,
        **fields,
    }


def _signed_fields(body: Any, what: str) -> tuple[int, int, bytes]:
    """``(nonce, deadline, signature)`` of a signed app action's JSON (422 when malformed)."""
    if not isinstance(body, dict):
        raise UnprocessableError(
            f"{what} must be an object {{nonce, deadline, signature}} signed by you",
            code="authorization_required",
        )
    nonce, deadline, signature = body.get("nonce"), body.get("deadline"), body.get("signature")
    if isinstance(nonce, str) and nonce.isascii() and nonce.isdigit() and len(nonce) <= 78:
        nonce = int(nonce)
    if isinstance(nonce, bool) or not isinstance(nonce, int) or not 0 <= nonce < 2**256:
        raise UnprocessableError(
            f"{what}.nonce must be a uint256 (a decimal string or a number)",
            code="invalid_message",
            details={"field": "nonce"},
        )
    now = int(time.time())
    if isinstance(deadline, bool) or not isinstance(deadline, int):
        raise UnprocessableError(
            f"{what}.deadline must be unix seconds",
            code="invalid_message",
            details={"field": "deadline"},
        )
    if not now < deadline <= now + MAX_DEADLINE_SECONDS:
        raise UnprocessableError(
            f"{what}.deadline must be in the next {MAX_DEADLINE_SECONDS} s (it is {deadline}, "
            f"now {now})",
            code="signature_expired",
            details={"field": "deadline"},
        )
    if not isinstance(signature, str):
        raise UnprocessableError(
            f"{what}.signature must be 0x hex",
            code="invalid_message",
            details={"field": "signature"},
        )
    return nonce, deadline, parse_signature(signature, what=f"{what}.signature")


def authorization_message(
    *,
    principal: Principal,
    patient: str | None,
    app_id: bytes,
    client_id: str,
    scope: str,
    nonce: int,
    deadline: int,
) -> AppAuthorization:
    """The ``AppAuthorization`` the user signs for a decision (without a patient in context,
    the user's own address stands for the patient: the contract needs one)."""
    return AppAuthorization(
        user=principal.address,
        patient=patient or principal.address,
        app_id=app_id,
        client_id=client_id_hash(client_id),
        scope_hash=scope_hash(scope.split()),
        nonce=nonce,
        deadline=deadline,
    )


def record_authorization(
    *,
    ctx: AppContext,
    principal: Principal,
    patient: str | None,
    app_id: bytes,
    client_id: str,
    scope: str,
    signed: Any,
) -> str:
    """Check the user's signed ``AppAuthorization`` for exactly this decision and put it on
    chain; the transaction hash once mined."""
    nonce, deadline, signature = _signed_fields(signed, "authorization")
    message = authorization_message(
        principal=principal,
        patient=patient,
        app_id=app_id,
        client_id=client_id,
        scope=scope,
        nonce=nonce,
        deadline=deadline,
    )
    check_signed_by_caller(
        ctx, message, signature, caller=principal.address, what="AppAuthorization"
    )
    market = ctx.chain.marketplace
    with chain_required("cannot record the app authorisation"):
        mined = send_marketplace(lambda: market.authorize_app(message=message, signature=signature))
    return mined.tx_hash


def record_revocation(*, ctx: AppContext, principal: Principal, app_id: bytes, signed: Any) -> str:
    """Check the patient's signed ``AppRevocation`` and put it on chain; the transaction hash."""
    nonce, deadline, signature = _signed_fields(signed, "revocation")
    message = AppRevocation(
        patient=principal.address, app_id=app_id, nonce=nonce, deadline=deadline
    )
    check_signed_by_caller(ctx, message, signature, caller=principal.address, what="AppRevocation")
    market = ctx.chain.marketplace
    with chain_required("cannot record the app revocation"):
        mined = send_marketplace(lambda: market.revoke_app(message=message, signature=signature))
    return mined.tx_hash


def revoked_at(ctx: AppContext, *, patient: str, app_id: bytes) -> int:
    """When ``patient`` revoked the app on chain (0: not revoked)."""
    return ctx.chain.marketplace.app_revoked_at(patient, app_id)


__all__ = [
    "authorization_message",
    "record_authorization",
    "record_revocation",
    "revoked_at",
    "signing_context",
]
