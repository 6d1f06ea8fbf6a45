"""Actions a caller signs (EIP-712) and the API relays: parse, rebuild, check.

DESIGN "Trust": every state change made in someone's name carries that person's signature,
recovered by the contract; the relayer only pays gas. The API is the second guard: it
rebuilds the message from what it received (never from what the client says the message was)
and refuses, before anything is stored or sent, a signature that is malformed, expired, too
long-lived, or made by anyone but the signed-in caller. The chain then checks the same
signature again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crypto.addresses import to_checksum_address
from crypto.errors import SigningError
from crypto.signing import Domain, TypedMessage, recover
from ledger_api.http_errors import ForbiddenError, UnprocessableError

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = [
    "MAX_DEADLINE_SECONDS",
    "SignedAction",
    "check_signed_action",
    "check_signed_by_caller",
    "contract_domain",
    "parse_signature",
    "parse_signed_field",
]

MAX_DEADLINE_SECONDS = 7 * 86_400  # a signed action may not stay valid longer than this
_MAX_FIELD = 512


@dataclass(frozen=True)
class SignedAction:
    """A signature and the deadline it was made with (the rest is rebuilt by the API)."""

    signature: bytes
    deadline: int


def parse_signature(text: str, *, what: str = "signature") -> bytes:
    """A 65-byte ``0x``-hex signature (422 otherwise)."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) != 130 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise UnprocessableError(
            f"{what} must be 65 bytes of hex (0x and 130 digits)", code="invalid_signature"
        )
    return bytes.fromhex(digits)


def parse_signed_field(text: str | None) -> SignedAction | None:
    """The form field ``signed`` (``{"signature": "0x…", "deadline": <unix s>}``)."""
    if text is None:
        return None
    if len(text) > _MAX_FIELD:
        raise UnprocessableError("the `signed` field is too long", code="invalid_signature")
    try:
        doc: Any = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or set(doc) != {"signature", "deadline"}:
        raise UnprocessableError(
            '`signed` must be the JSON object {"signature": "0x…", "deadline": <unix seconds>}',
            code="invalid_signature",
        )
    deadline = doc["deadline"]
    if isinstance(deadline, bool) or not isinstance(deadline, int) or not 0 <= deadline < 2**64:
        raise UnprocessableError("deadline must be unix seconds", code="invalid_signature")
    if not isinstance(doc["signature"], str):
        raise UnprocessableError("signature must be a hex string", code="invalid_signature")
    return SignedAction(signature=parse_signature(doc["signature"]), deadline=deadline)


def check_signed_action(
    message: TypedMessage,
    signature: bytes,
    *,
    domain: Domain,
    signer: str,
    what: str,
    now: int | None = None,
) -> None:
    """Refuse ``message`` unless ``signer`` (the caller) signed it and it has not expired.

    ``message`` must have a ``deadline`` field. A deadline far ahead is refused too: a
    signature valid for a year is a blank cheque for whoever holds it."""
    now = int(time.time()) if now is None else now
    deadline = int(message.deadline)  # type: ignore[attr-defined]
    if deadline < now:
        raise UnprocessableError(
            f"the signed {what} expired at {deadline} (now {now}): sign it again",
            code="signature_expired",
            details={"deadline": deadline},
        )
    if deadline > now + MAX_DEADLINE_SECONDS:
        raise UnprocessableError(
            f"the {what}'s deadline is more than {MAX_DEADLINE_SECONDS} s ahead",
            code="deadline_too_far",
            details={"deadline": deadline, "max_seconds": MAX_DEADLINE_SECONDS},
        )
    try:
        recovered = recover(domain, message, signature)
    except SigningError as exc:
        raise UnprocessableError(
            f"the {what} signature is invalid: {exc}", code="invalid_signature"
        ) from exc
    if recovered != to_checksum_address(signer):
        raise ForbiddenError(
            f"the {what} is not signed by the signed-in caller for exactly what was sent "
            f"(it recovers {recovered}): sign it as yourself",
            code="signer_mismatch",
            details={"recovered": recovered, "caller": to_checksum_address(signer)},
        )


def contract_domain(ctx: AppContext, message: TypedMessage) -> Domain:
    """The EIP-712 domain of the deployed contract that verifies ``message``."""
    return message.domain(
        chain_id=ctx.deployment.chain_id,
        verifying_contract=ctx.deployment.address(message.CONTRACT),
    )


def check_signed_by_caller(
    ctx: AppContext, message: TypedMessage, signature: bytes, *, caller: str, what: str
) -> None:
    """:func:`check_signed_action` in the domain of the contract that verifies ``message``
    (the API rebuilt ``message`` from the request; ``caller`` is the signed-in account)."""
    check_signed_action(
        message, signature, domain=contract_domain(ctx, message), signer=caller, what=what
    )
