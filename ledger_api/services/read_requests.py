"""The reader's signed request for a record's header or body: parsed, checked, used once.

DESIGN "Trust": every logged read carries the reader's signature, so the relayer (or a
compromised API) cannot put a read in the access log that nobody asked for. The client signs
an EIP-712 :class:`~crypto.signing.ReadRequest` (record, part, purpose, issued-at, nonce) in
the ``AccessLog`` domain and sends it with the request as three headers; the API checks it
here before deciding anything, and the decision's ``AccessLogged`` entry carries it (the
contract keeps it unverified; auditors verify every entry: ``/audit/verify``).

- ``X-Read-Issued-At``: unix seconds; accepted within :data:`READ_WINDOW_SECONDS` of now;
- ``X-Read-Nonce``: a uint64 the client draws at random; one use per reader (a replay is
  refused: the ``read_requests`` table remembers it for the window);
- ``X-Read-Signature``: the 65-byte signature, ``0x`` hex.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crypto.addresses import to_checksum_address
from crypto.errors import SigningError
from crypto.signing import AppReadRequest, Purpose, ReadPart, ReadRequest, recover
from ledger_api.http_errors import ApiError, ConflictError, ForbiddenError
from ledger_api.inputs import is_ascii_digits
from ledger_api.principal import Principal
from ledger_api.services.signed_actions import parse_signature
from storage.models import ReadRequest as UsedReadRequest

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = [
    "READ_HEADERS",
    "READ_WINDOW_SECONDS",
    "BadReadRequestError",
    "SignedRead",
    "check_read",
    "parse_read",
]

READ_WINDOW_SECONDS = 300
READ_HEADERS = ("X-Read-Issued-At", "X-Read-Nonce", "X-Read-Signature")
_PRUNE_PROBABILITY = 0.02


class BadReadRequestError(ApiError):
    """The read's signed request is missing or malformed (400)."""

    status_code = 400
    code = "read_unsigned"


@dataclass(frozen=True)
class SignedRead:
    """A reader's request as signed (an :class:`AppReadRequest` when the page reads for a
    SMART app), and the signature."""

    request: ReadRequest | AppReadRequest
    signature: bytes


def parse_read(
    headers: Mapping[str, str],
    *,
    record_id: str,
    part: ReadPart,
    purpose: Purpose,
    app: tuple[bytes, bytes] | None = None,
) -> SignedRead:
    """The signed request of a read of ``part`` of ``record_id`` (400 when absent or bad).

    The request is rebuilt from the route's own record, part and purpose (and, for a read made
    for an app, ``app``: its listing id and hashed client id, from the app's token): a
    signature the reader made for another record, part, purpose or app does not recover the
    reader."""
    issued_at, nonce, signature = (headers.get(name) for name in READ_HEADERS)
    if issued_at is None or nonce is None or signature is None:
        raise BadReadRequestError(
            "a record read must carry the reader's signed request (headers "
            f"{', '.join(READ_HEADERS)}: an EIP-712 ReadRequest in the AccessLog domain); "
            "the SDK and the web apps sign it",
            details={"required": list(READ_HEADERS)},
        )
    for name, value in (("X-Read-Issued-At", issued_at), ("X-Read-Nonce", nonce)):
        if not is_ascii_digits(value) or len(value) > 20 or int(value) >= 2**64:
            raise BadReadRequestError(
                f"{name} must be a uint64 in ASCII digits",
                code="invalid_read_request",
                details={"header": name},
            )
    try:
        signed = parse_signature(signature, what="X-Read-Signature")
    except ApiError as exc:
        raise BadReadRequestError(exc.message, code="invalid_read_request") from exc
    fields = {
        "record_id": bytes.fromhex(record_id[2:]),
        "part": part,
        "purpose": int(purpose),
        "issued_at": int(issued_at),
        "nonce": int(nonce),
    }
    request: ReadRequest | AppReadRequest
    if app is None:
        request = ReadRequest(**fields)
    else:
        request = AppReadRequest(**fields, app_id=app[0], client_id=app[1])
    return SignedRead(request=request, signature=signed)


def check_read(
    *, ctx: AppContext, principal: Principal, signed: SignedRead, now: int | None = None
) -> None:
    """Refuse a request not signed by the caller, outside the window, or already used."""
    now = int(time.time()) if now is None else now
    request = signed.request
    if abs(now - request.issued_at) > READ_WINDOW_SECONDS:
        raise BadReadRequestError(
            f"the read request was signed at {request.issued_at}, more than "
            f"{READ_WINDOW_SECONDS} s from now ({now}): sign a fresh one",
            code="read_request_stale",
            details={"issued_at": request.issued_at, "window_seconds": READ_WINDOW_SECONDS},
        )
    domain = type(request).domain(
        chain_id=ctx.deployment.chain_id,
        verifying_contract=ctx.deployment.address("AccessLog"),
    )
    try:
        reader = recover(domain, request, signed.signature)
    except SigningError as exc:
        raise BadReadRequestError(
            f"the read request's signature is invalid: {exc}", code="invalid_read_request"
        ) from exc
    if reader != to_checksum_address(principal.address):
        raise ForbiddenError(
            "the read request is not signed by the signed-in reader for this record, part and "
            f"purpose (it recovers {reader})",
            code="read_signer_mismatch",
            details={"recovered": reader},
        )
    _use_once(ctx=ctx, principal=principal, request=request, now=now)


def _use_once(
    *, ctx: AppContext, principal: Principal, request: ReadRequest | AppReadRequest, now: int
) -> None:
    with ctx.sessions() as db:
        db.add(
            UsedReadRequest(
                reader=principal.address.lower(),
                nonce=str(request.nonce),
                record_id="0x" + request.record_id.hex(),
                part=int(request.part),
                issued_at=request.issued_at,
            )
        )
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
            raise ConflictError(
                "this signed read request was already used: sign a new one (a fresh nonce)",
                code="read_replayed",
                details={"nonce": str(request.nonce)},
            ) from None
        if random.random() < _PRUNE_PROBABILITY:
            db.execute(
                sa.delete(UsedReadRequest).where(
                    UsedReadRequest.issued_at < now - 2 * READ_WINDOW_SECONDS
                )
            )
            db.commit()
