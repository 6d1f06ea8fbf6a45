"""``/records`` and ``/patients/{address}/records``: share, list, read metadata and content.

Thin: each route reads its inputs, calls one service function and shapes the answer. The
upload route takes the raw request so that its size is counted while it is received (the
multipart parser of FastAPI's ``File()`` would read it all first); its schema is declared in
``openapi_extra`` so that the OpenAPI document still describes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ledger_api.deps import ClientIpDep, ContextDep, DbDep, LimiterDep, PrincipalDep
from ledger_api.inputs import Offset, uint_query
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import AddressPath, PurposeQuery, RecordIdPath
from ledger_api.services.access import parse_purpose
from ledger_api.services.read_requests import READ_HEADERS
from ledger_api.services.record_reads import MAX_PAGE, get_record, list_chart, open_content
from ledger_api.services.records import record_view, share_record
from ledger_api.services.uploads import check_upload, read_upload
from ledger_api.smart.reads import APP_TOKEN_HEADER

router = APIRouter(tags=["records"])


_UPLOAD_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["metadata", "header", "body"],
                    "properties": {
                        "metadata": {
                            "type": "string",
                            "maxLength": 65536,
                            "description": (
                                'JSON: {"record_id": "0x…32 bytes", "patient": "0x…", '
                                '"record_type": "≤31 bytes", "author": "0x… (optional)", '
                                '"record_date": "FHIR date or dateTime (optional: the '
                                'clinical date the timeline is ordered by)", '
                                '"deadline": <unix seconds>, "signature": "0x…65 bytes"}. '
                                "The signature is the author's EIP-712 RecordRegistration "
                                "(domain MedLedger RecordRegistry, GET /chain) over the id, "
                                "patient, both CIDs, the body's SHA-256, the policy hash, "
                                "the record type and the deadline: the API recomputes each "
                                "from the bytes received and the chain recovers the author "
                                "from it. The header must be an envelope v2 bound to this "
                                "record id and patient."
                            ),
                        },
                        "header": {"type": "string", "format": "binary"},
                        "body": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/records",
    status_code=201,
    openapi_extra=_UPLOAD_SCHEMA,
    responses={
        200: {"description": "identical record already registered (idempotent retry)"},
        **error_responses(
            s403="not_author, author_mismatch, signer_mismatch (the registration is signed by "
            "someone else, or for other bytes)",
            s409="duplicate_record",
            s413="payload_too_large (upload or header over the limit), storage_quota_exceeded",
            s422="invalid_upload, invalid_metadata, invalid_header, policy_excludes_patient, "
            "invalid_body, invalid_request, envelope_version, envelope_binding, "
            "registration_unsigned, invalid_signature, signature_expired, deadline_too_far",
            s503="chain_unavailable, block_missing, database_unavailable",
        ),
    },
)
async def upload_record(
    request: Request, ctx: ContextDep, principal: PrincipalDep, limiter: LimiterDep, ip: ClientIpDep
) -> Any:
    """Store an encrypted record's header and body, register it, answer after the receipt."""
    await run_in_threadpool(
        limiter.hit, "upload", address=principal.address, ip=ip, principal=principal
    )
    settings = ctx.settings
    parts = await read_upload(
        request,
        max_upload_bytes=settings.max_upload_bytes,
        max_header_bytes=settings.max_header_bytes,
    )
    try:

        def work() -> tuple[dict[str, Any], bool]:
            checked = check_upload(
                metadata=parts.metadata, header_bytes=parts.header_bytes, body=parts.body
            )
            with ctx.sessions() as db:
                result = share_record(ctx=ctx, db=db, principal=principal, upload=checked)
                return record_view(result.record), result.created

        view, created = await run_in_threadpool(work)
    finally:
        await parts.close()
    return JSONResponse(view, status_code=201 if created else 200)


@router.get(
    "/patients/{address}/records",
    responses=error_responses(
        s403="forbidden (nothing of this page of the chart is open to the caller)",
        s422="invalid_address, invalid_page, invalid_purpose, invalid_request",
    ),
)
def list_patient_records(
    address: AddressPath,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    limit: uint_query(ge=1, le=MAX_PAGE) = 50,
    purpose: PurposeQuery = "treatment",
) -> dict[str, Any]:
    """A page of the patient's chart: the records the caller may see, in chain order."""
    page = list_chart(
        ctx=ctx,
        db=db,
        principal=principal,
        patient=address,
        purpose=parse_purpose(purpose),
        offset=offset,
        limit=limit,
    )
    return {
        "items": [record_view(r) for r in page.items],
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
    }


@router.get(
    "/records/{record_id}",
    responses=error_responses(
        s403="forbidden",
        s404="not_found",
        s422="invalid_record_id, invalid_purpose, invalid_request",
    ),
)
def record_metadata(
    record_id: RecordIdPath,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    purpose: PurposeQuery = "treatment",
) -> dict[str, Any]:
    """A record's on-chain metadata (CIDs, digests, type), if the caller may see it."""
    row = get_record(
        ctx=ctx, db=db, principal=principal, record_id=record_id, purpose=parse_purpose(purpose)
    )
    return record_view(row)


def signed_read_headers(
    x_read_issued_at: Annotated[
        str | None,
        Header(max_length=20, description="unix seconds the read request was signed at"),
    ] = None,
    x_read_nonce: Annotated[
        str | None, Header(max_length=20, description="a random uint64, used once")
    ] = None,
    x_read_signature: Annotated[
        str | None,
        Header(
            max_length=132,
            description="the reader's EIP-712 ReadRequest(recordId, part, purpose, issuedAt, "
            "nonce) signature, domain MedLedger AccessLog (GET /chain); part 0 = header, "
            "1 = body. It goes on chain with the access decision.",
        ),
    ] = None,
    x_read_app_token: Annotated[
        str | None,
        Header(
            max_length=200,
            description="the SMART app's access token, when the user's page reads for an app: "
            "X-Read-Signature is then over AppReadRequest(recordId, part, purpose, issuedAt, "
            "nonce, appId, clientId), and the token's scopes, patient and the patient's "
            "on-chain revocation are checked before the user's own right",
        ),
    ] = None,
) -> dict[str, str]:
    """The headers of a read's signed request (checked by the service)."""
    values = zip(
        (*READ_HEADERS, APP_TOKEN_HEADER),
        (x_read_issued_at, x_read_nonce, x_read_signature, x_read_app_token),
        strict=True,
    )
    return {name: value for name, value in values if value is not None}


SignedReadDep = Annotated[dict[str, str], Depends(signed_read_headers)]

_CONTENT_ERRORS = error_responses(
    s400="read_unsigned, invalid_read_request, read_request_stale (the reader's signed request)",
    s401="app_token_inactive (a read for an app whose token is unknown, revoked, expired or "
    "another user's: nothing logged)",
    s403="forbidden, app_scope_denied, app_patient_mismatch, app_revoked (the denial is logged "
    "on chain first), read_signer_mismatch",
    s404="not_found",
    s409="read_replayed (the signed read request was already used)",
    s422="invalid_record_id, invalid_purpose, invalid_request",
    s429="rate_limited (denied reads)",
    s503="chain_unavailable, block_missing",
)


def _content(
    part: str,
    record_id: str,
    ctx: Any,
    db: Any,
    principal: Any,
    purpose: str,
    ip: str | None,
    signed_read: dict[str, str],
) -> StreamingResponse:
    decision, row, chunks = open_content(
        client_ip=ip,
        ctx=ctx,
        db=db,
        principal=principal,
        record_id=record_id,
        part="header" if part == "header" else "body",
        purpose=parse_purpose(purpose),
        headers=signed_read,
    )
    headers = {
        "X-Record-Id": row.record_id,
        "X-Access-Tx": decision.tx_hash or "",
        "X-Access-Reason": str(int(decision.reason)),
        "X-Content-Cid": row.header_cid if part == "header" else row.body_cid,
        # where the registration is on chain: a hint for clients that check what they are
        # served against RecordRegistered (a wrong hint can only make the check fail)
        "X-Record-Block": str(row.block_number or 0),
    }
    if part == "body":
        headers["X-Body-Sha256"] = row.body_sha256
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.get(
    "/records/{record_id}/header",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **_CONTENT_ERRORS},
)
def record_header(
    record_id: RecordIdPath,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    ip: ClientIpDep,
    signed_read: SignedReadDep,
    purpose: PurposeQuery = "treatment",
) -> StreamingResponse:
    """The envelope header (CBOR), streamed after the access decision is logged on chain."""
    return _content("header", record_id, ctx, db, principal, purpose, ip, signed_read)


@router.get(
    "/records/{record_id}/body",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **_CONTENT_ERRORS},
)
def record_body(
    record_id: RecordIdPath,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    ip: ClientIpDep,
    signed_read: SignedReadDep,
    purpose: PurposeQuery = "treatment",
) -> StreamingResponse:
    """The encrypted body, streamed after the access decision is logged on chain."""
    return _content("body", record_id, ctx, db, principal, purpose, ip, signed_read)
