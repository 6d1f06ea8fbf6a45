"""Relay a signed marketplace action (``POST /marketplace/actions/{kind}``).

DESIGN "Trust": the contract recovers the actor from the EIP-712 signature and checks their
role, so the relayer can change nothing by itself. The API is the second guard: it rebuilds
the typed message from the JSON it received (every member checked against its Solidity
type), refuses a signature that is not the signed-in caller's, expired or too long-lived, a
nonce already used, or an actor without the role the action needs — each a precise 4xx with
the contract's error name as ``code`` where the contract has one — before anything is sent.
A revert still possible after that (a race) maps the same way; nothing is stored unless the
transaction is mined, and then its events are written with the indexer's own handlers so the
listing reflects the action in the same answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from crypto.signing import (
    AdministratorChange,
    AppInstallation,
    AppRating,
    AppStatusChange,
    AppSubmission,
    AppVote,
    StatusAction,
    TypedMessage,
    VendorChange,
)
from crypto.signing.core import camel
from ledger_api.chain.contract import Mined, PendingTx
from ledger_api.chain.errors import ChainError, InvalidChainInputError, TransactionRevertedError
from ledger_api.http_errors import (
    ApiError,
    ConflictError,
    ForbiddenError,
    ServiceUnavailableError,
    UnprocessableError,
)
from ledger_api.indexer.apply import apply_events
from ledger_api.indexer.decode import EventDecoder
from ledger_api.services.access import chain_required
from ledger_api.services.chain_time import block_time
from ledger_api.services.signed_actions import check_signed_by_caller, parse_signature

if TYPE_CHECKING:
    from ledger_api.context import AppContext
    from ledger_api.principal import Principal

KINDS: dict[str, type[TypedMessage]] = {
    "submit": AppSubmission,
    "vote": AppVote,
    "status": AppStatusChange,
    "install": AppInstallation,
    "rate": AppRating,
    "vendor": VendorChange,
    "administrator": AdministratorChange,
}
_FUNCTIONS = {
    "submit": "submit_app",
    "vote": "vote",
    "status": "change_status",
    "install": "set_installation",
    "rate": "rate",
    "vendor": "set_vendor",
    "administrator": "set_administrator",
}
_FORBIDDEN = {
    "MarketplaceUnauthorized",
    "MarketplaceNotVendor",
    "MarketplaceNotAppVendor",
    "MarketplaceUnauthorizedRelay",
    "MarketplaceSignerMismatch",
    "MarketplaceNotLaunchable",
    "MarketplaceNotOwnRecords",
    "MarketplaceAppRevoked",
}
_CONFLICT = {
    "MarketplaceNonceUsed",
    "MarketplaceAlreadyVoted",
    "MarketplaceVersionNotNewer",
    "MarketplaceInvalidTransition",
    "MarketplaceStaleVersion",
    "MarketplaceNotLive",
    "MarketplaceAlreadyInstalled",
    "MarketplaceNotInstalled",
    "MarketplaceNotListed",
    "MarketplaceAlreadyRated",
    "MarketplaceVendorUnchanged",
    "MarketplaceAdministratorInUse",
    "MarketplaceUnknownVersion",
    "MarketplaceAppAlreadyRevoked",
}
MAX_STRING = 2000


def _bad(field: str, message: str) -> UnprocessableError:
    return UnprocessableError(
        f"message.{field}: {message}", code="invalid_message", details={"field": field}
    )


def _value(kind: str, name: str, raw: Any) -> Any:
    """One member from JSON: bytes32 as 0x hex, integers as numbers or decimal strings."""
    if kind == "bytes32":
        if not isinstance(raw, str) or len(raw) != 66 or raw[:2] not in ("0x", "0X"):
            raise _bad(name, "must be 0x and 64 hex digits")
        try:
            return bytes.fromhex(raw[2:])
        except ValueError:
            raise _bad(name, "must be 0x and 64 hex digits") from None
    if kind.startswith("uint"):
        if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 78:
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise _bad(name, f"must be an integer ({kind})")
        if not 0 <= raw < 2 ** int(kind[4:]):
            raise _bad(name, f"out of range for {kind}")
        return raw
    if kind == "bool":
        if not isinstance(raw, bool):
            raise _bad(name, "must be true or false")
        return raw
    if kind in ("string", "address"):
        if not isinstance(raw, str) or len(raw) > MAX_STRING:
            raise _bad(name, f"must be a string of at most {MAX_STRING} characters")
        return raw
    raise _bad(name, f"unsupported type {kind}")  # a definition bug


def build_message(kind: str, message: dict[str, Any]) -> TypedMessage:
    """The typed message of ``kind`` from its ``eth_signTypedData_v4`` JSON (camelCase)."""
    cls = KINDS[kind]
    fields = {camel(f.name): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(message) - set(fields))
    if unknown:
        raise _bad(unknown[0], f"unknown member (expected {sorted(fields)})")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in message:
            raise _bad(name, "missing")
        values[f.name] = _value(f.metadata["eip712"], name, message[name])
    if cls is AppStatusChange:
        try:
            values["action"] = StatusAction(values["action"])
        except ValueError:
            raise UnprocessableError(
                "message.action: 1 suspend, 2 reinstate, 3 retire",
                code="MarketplaceInvalidAction",
                details={"field": "action"},
            ) from None
    try:
        built = cls(**values)
        built.message()  # every member checked against its type (addresses)
    except (ValueError, TypeError) as exc:
        raise UnprocessableError(f"message: {exc}", code="invalid_message") from None
    return built


def _refuse(code: str, message: str, cls: type[ApiError] = ForbiddenError) -> ApiError:
    return cls(message, code=code)


def _precheck(ctx: AppContext, kind: str, m: Any, signer: str) -> None:
    """The actor's role and the action's cheap preconditions, read from the chain."""
    market = ctx.chain.marketplace
    consortium = ctx.chain.consortium
    if market.nonce_used(signer, m.nonce):
        raise ConflictError(
            f"nonce {m.nonce} of {signer} is already used (a replay?): sign a new action",
            code="MarketplaceNonceUsed",
        )
    if kind in ("vendor", "administrator"):
        if consortium.admin() != signer:
            raise _refuse("MarketplaceUnauthorized", f"{signer} is not the consortium admin")
    elif kind == "submit":
        if not market.is_vendor(signer):
            raise _refuse("MarketplaceNotVendor", f"{signer} is not an enrolled vendor")
    elif kind == "vote":
        if market.administrator_role_of(signer) is None:
            raise _refuse("MarketplaceUnauthorized", f"{signer} holds no administrator role")
        if not m.approve and not m.reason.strip():
            raise UnprocessableError("a rejection needs a reason", code="MarketplaceMissingReason")
    elif kind == "status":
        if m.action == StatusAction.RETIRE:
            if not market.is_vendor(signer):
                raise _refuse("MarketplaceNotVendor", f"{signer} is not an enrolled vendor")
        elif market.administrator_role_of(signer) is None and consortium.admin() != signer:
            raise _refuse(
                "MarketplaceUnauthorized",
                f"{signer} is neither an administrator nor the consortium admin",
            )
        if m.action == StatusAction.SUSPEND and not m.reason.strip():
            raise UnprocessableError("a suspension needs a reason", code="MarketplaceMissingReason")
    elif kind in ("install", "rate"):
        inst = m.institution_id
        if inst == 0 or inst > consortium.institution_count():
            raise UnprocessableError(f"no institution {inst}", code="MarketplaceInvalidInstitution")
        info = consortium.institution(inst)
        if not info.active:
            raise UnprocessableError(
                f"institution {inst} is suspended", code="MarketplaceInvalidInstitution"
            )
        if info.admin != signer:
            raise _refuse("MarketplaceUnauthorized", f"{signer} is not institution {inst}'s admin")
        if kind == "rate":
            if not 1 <= m.score <= 5:
                raise UnprocessableError("a score is 1 to 5", code="MarketplaceInvalidScore")
            if not market.is_installed(inst, m.app_id):
                raise ConflictError(
                    f"institution {inst} has not installed the app: it cannot rate it",
                    code="MarketplaceNotInstalled",
                )


def send_marketplace(pending: Callable[[], PendingTx]) -> Mined:
    """Send a Marketplace transaction; its revert as a precise 4xx (the contract error name
    as ``code``), an unreachable chain as 503."""
    try:
        return pending().wait()
    except TransactionRevertedError as exc:
        name = exc.error_name
        details = {"error": name, "args": {k: str(v) for k, v in exc.error_args.items()}}
        if name in _FORBIDDEN:
            raise ForbiddenError(str(exc), code=name, details=details) from exc
        if name in _CONFLICT:
            raise ConflictError(str(exc), code=name, details=details) from exc
        if name.startswith("Marketplace"):
            raise UnprocessableError(str(exc), code=name, details=details) from exc
        raise ServiceUnavailableError(
            f"Marketplace refused: {exc}", code="chain_rejected", details=details
        ) from exc
    except InvalidChainInputError as exc:
        raise UnprocessableError(str(exc), code="invalid_message") from exc
    except ChainError as exc:
        raise ServiceUnavailableError(
            f"chain unavailable: {exc}", code="chain_unavailable"
        ) from exc


def _index_receipt(ctx: AppContext, db: Session, mined: Mined) -> None:
    """Write the receipt's Marketplace events with the indexer's own handlers."""
    address = ctx.deployment.address("Marketplace")
    decoder = EventDecoder({address: ("Marketplace", ctx.chain.marketplace.contract.abi)})
    with chain_required("the transaction is mined but its block cannot be read"):
        when = block_time(ctx, mined.block_number)
    events = [e for e in (decoder.decode(raw, when) for raw in mined.receipt.logs) if e]
    apply_events(db.connection(), events)


def relay_action(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    kind: str,
    message: dict[str, Any],
    signature: str,
) -> dict[str, Any]:
    """Check and relay one signed action; ``{kind, tx_hash, block_number}`` once mined."""
    if kind not in KINDS:
        raise UnprocessableError(
            f"unknown action {kind!r} (one of {sorted(KINDS)})", code="unknown_action"
        )
    built = build_message(kind, message)
    raw_signature = parse_signature(signature)
    check_signed_by_caller(ctx, built, raw_signature, caller=principal.address, what=kind)
    with chain_required("cannot check the action on Marketplace"):
        _precheck(ctx, kind, built, principal.address)
    method = getattr(ctx.chain.marketplace, _FUNCTIONS[kind])
    mined = send_marketplace(lambda: method(message=built, signature=raw_signature))
    _index_receipt(ctx, db, mined)
    return {"kind": kind, "tx_hash": mined.tx_hash, "block_number": mined.block_number}
