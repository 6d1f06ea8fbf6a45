"""The emergency routes of an institution's key authority (``medledger authority serve``).

- ``GET /emergency`` — this authority's index and round in the consortium emergency key, or
  ``{"share": false}`` when it holds no share of the chain's current key;
- ``POST /emergency/shares`` — body ``{"request": {"openingId", "recordsHash", "authority",
  "recipientKey", "deadline"}, "signature", "records": [{"recordId", "slot" (base64 of the
  header's ``emergency`` field)}]}``: the opening's clinician's EIP-712
  :class:`~crypto.signing.emergency_shares.EmergencyShareRequest`. Answers
  ``{"index", "round", "sealedShares" (base64), "txHashes"}`` once the release is mined on
  chain (``EmergencyKeys.releaseShares``); refusals are JSON ``{"code", "message",
  "recordId"?}`` with 403/404/409/413/422 (see :mod:`ledger_api.authority.emergency`).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.signing.emergency_shares import EmergencyShareRequest
from ledger_api.authority.emergency import EmergencyShareService, ShareItem, ShareRefusedError
from ledger_api.chain.errors import ChainError

MAX_BODY = 2 * 1024 * 1024
_HEX32 = r"^0x[0-9a-fA-F]{64}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    opening_id: str = Field(alias="openingId", pattern=_HEX32)
    records_hash: str = Field(alias="recordsHash", pattern=_HEX32)
    authority: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    recipient_key: str = Field(alias="recipientKey", pattern=_HEX32)
    deadline: int = Field(ge=0, lt=2**64)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    record_id: str = Field(alias="recordId", pattern=_HEX32)
    slot: str = Field(max_length=8192)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request: _Request
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    records: list[_Record] = Field(min_length=1, max_length=512)


def _error(status: int, code: str, message: str, record_id: bytes | None = None) -> JSONResponse:
    content: dict[str, object] = {"code": code, "message": message}
    if record_id is not None:
        content["recordId"] = "0x" + record_id.hex()
    return JSONResponse(status_code=status, content=content)


def _b32(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def add_emergency_routes(app: FastAPI, service: EmergencyShareService | None) -> None:
    """Mount the routes; ``service`` is None when the authority holds no emergency share."""

    @app.get("/emergency")
    def emergency() -> JSONResponse:
        if service is None:
            return JSONResponse({"share": False})
        try:
            key = service.public_key()
        except ShareRefusedError as exc:
            return JSONResponse({"share": False, "code": exc.code, "message": str(exc)})
        except ChainError as exc:
            return _error(503, "chain_unavailable", str(exc))
        return JSONResponse(
            {"share": True, "index": service.share.index, "round": key.key_round, "t": key.t}
        )

    @app.post("/emergency/shares")
    async def shares(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _error(413, "body_too_large", f"a share request is at most {MAX_BODY} bytes")
        if service is None:
            return _error(409, "no_share", "this authority holds no emergency key share")
        try:
            body = _Body.model_validate_json(raw)
            items = [
                ShareItem(record_id=_b32(r.record_id), slot=base64.b64decode(r.slot, validate=True))
                for r in body.records
            ]
        except (ValidationError, binascii.Error, ValueError) as exc:
            return _error(422, "invalid_request", str(exc)[:500])
        fields = body.request
        message = EmergencyShareRequest(
            opening_id=_b32(fields.opening_id),
            records_hash=_b32(fields.records_hash),
            authority=fields.authority,
            recipient_key=_b32(fields.recipient_key),
            deadline=fields.deadline,
        )
        try:
            released = service.release(
                request=message, signature=bytes.fromhex(body.signature[2:]), items=items
            )
        except ShareRefusedError as exc:
            return _error(exc.status, exc.code, str(exc), exc.record_id)
        except ChainError as exc:
            return _error(503, "chain_unavailable", str(exc))
        return JSONResponse(
            {
                "index": released.index,
                "round": released.key_round,
                "sealedShares": base64.b64encode(released.sealed_shares).decode(),
                "txHashes": list(released.tx_hashes),
            }
        )
