"""``POST /records/{record_id}/rekey``: a new version of a record after its access narrowed.

Thin, like the upload route: the raw request is read with a running byte count
(:mod:`ledger_api.services.rekey_upload`), then one service call checks, stores, registers and
indexes it (:mod:`ledger_api.services.rekey`). The multipart schema is declared in
``openapi_extra`` so that the OpenAPI document still describes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ledger_api.deps import ClientIpDep, ContextDep, LimiterDep, PrincipalDep
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import RecordIdPath
from ledger_api.services.rekey import rekey_record, rekey_view
from ledger_api.services.rekey_upload import read_rekey_upload

router = APIRouter(tags=["records"])

_REKEY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["signed", "header"],
                    "properties": {
                        "signed": {
                            "type": "string",
                            "maxLength": 512,
                            "description": (
                                'JSON {"signature": "0x…", "deadline": <unix s>}: the actor\'s'
                                " EIP-712 RecordRekey (header only) or RecordBodyRekey (with a"
                                " body) of the record's current version, over the CIDs, body"
                                " digest and policy hash sent (domain MedLedger"
                                " RecordRegistry)"
                            ),
                        },
                        "header": {
                            "type": "string",
                            "format": "binary",
                            "description": "the new envelope header (CBOR)",
                        },
                        "body": {
                            "type": "string",
                            "format": "binary",
                            "description": (
                                "a new body under a fresh data key (full re-encryption);"
                                " omitted: the header re-wraps the current body's key"
                            ),
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/records/{record_id}/rekey",
    openapi_extra=_REKEY_SCHEMA,
    responses=error_responses(
        s401="unauthorized",
        s403="not_record_manager, signer_mismatch",
        s404="record_not_found",
        s409="record_not_active",
        s413="payload_too_large",
        s415="unsupported_media_type",
        s422=(
            "invalid_record_id, invalid_upload, invalid_header, policy_excludes_patient,"
            " header_body_mismatch, invalid_body, rewrap_narrows, envelope_version,"
            " envelope_binding, rekey_unsigned, invalid_signature, signature_expired"
        ),
        s503="chain_unavailable, chain_rejected, header_unavailable",
    ),
)
async def rekey(
    record_id: RecordIdPath,
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    limiter: LimiterDep,
    ip: ClientIpDep,
) -> dict[str, Any]:
    """Register a re-keyed version of a record (header only, or header and body).

    Answers after the re-key is mined and indexed, with the record as it now is and the CIDs
    of the replaced blocks, retained for the audit (never served again) until
    ``retained_until``."""
    await run_in_threadpool(
        limiter.hit, "upload", address=principal.address, ip=ip, principal=principal
    )
    settings = ctx.settings
    parts = await read_rekey_upload(
        request,
        max_upload_bytes=settings.max_upload_bytes,
        max_header_bytes=settings.max_header_bytes,
    )
    try:

        def work() -> dict[str, Any]:
            with ctx.sessions() as db:
                result = rekey_record(
                    ctx=ctx,
                    db=db,
                    principal=principal,
                    record_id=record_id,
                    header_bytes=parts.header_bytes,
                    body=parts.body,
                    signed=parts.signed,
                )
                return rekey_view(result)

        return await run_in_threadpool(work)
    finally:
        await parts.close()
