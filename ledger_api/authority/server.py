"""The HTTP face of one institution's key authority (``medledger authority serve``).

A small FastAPI app of its own, run in its own process with its own key file, apart from the
API (which holds no key: ``docs/key-authorities.md``):

- ``GET /health`` — liveness;
- ``GET /authority`` — institution, code, the FAME public key (base64 of
  :func:`crypto.keys.dump_master_public_key`), its SHA-256 digest, the signer account, whether
  chain and key agree, URL, epoch and floor as on chain. Clients never trust this answer
  alone: they compare the key's digest with ``Consortium.authorityOf`` (pinning);
- ``POST /keys`` — body ``{"request": {"holder", "institutionId", "recipientKey" (0x hex, 32
  bytes), "issuedAt", "nonce"}, "signature": 0x hex}``, the holder's EIP-712
  :class:`~crypto.signing.authority.KeyRequest`; answers ``{"sealedKey": base64, "attributes",
  "attributesHash", "epoch", "institution", "txHash", "blockNumber"}`` once the issuance is
  mined. Refusals are JSON ``{"code", "message"}`` with 401/403/422/429/503.
"""

from __future__ import annotations

import base64

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.signing.authority import KeyRequest
from ledger_api.authority.service import AuthorityRefused, AuthorityService
from ledger_api.chain.errors import ChainError

__all__ = ["create_authority_app"]

MAX_BODY = 4096


class _RequestFields(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    holder: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    institution_id: int = Field(alias="institutionId", ge=1, lt=2**32)
    recipient_key: str = Field(alias="recipientKey", pattern=r"^0x[0-9a-fA-F]{64}$")
    issued_at: int = Field(alias="issuedAt", ge=0, lt=2**64)
    nonce: int = Field(ge=0, lt=2**64)


class _KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request: _RequestFields
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"code": code, "message": message})


def create_authority_app(service: AuthorityService) -> FastAPI:
    app = FastAPI(
        title=f"MedLedger key authority of institution {service.authority.institution_id}",
        version="1",
    )

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"ok": True, "institution": service.authority.institution_id}

    @app.get("/authority")
    def authority() -> JSONResponse:
        try:
            info = service.info()
        except ChainError as exc:
            return _error(503, "chain_unavailable", f"cannot read Consortium: {exc}")
        return JSONResponse(
            {
                **info,
                "mpk": base64.b64encode(info["mpk"]).decode(),  # type: ignore[arg-type]
                "digest": "0x" + info["digest"].hex(),  # type: ignore[union-attr]
            }
        )

    @app.post("/keys")
    async def keys(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _error(413, "body_too_large", f"a key request is at most {MAX_BODY} bytes")
        try:
            body = _KeyBody.model_validate_json(raw)
        except ValidationError as exc:
            return _error(422, "invalid_request", str(exc.errors(include_url=False))[:500])
        fields = body.request
        message = KeyRequest(
            holder=fields.holder,
            institution_id=fields.institution_id,
            recipient_key=bytes.fromhex(fields.recipient_key[2:]),
            issued_at=fields.issued_at,
            nonce=fields.nonce,
        )
        try:
            issued = service.issue(message, bytes.fromhex(body.signature[2:]))
        except AuthorityRefused as exc:
            return _error(exc.status, exc.code, str(exc))
        return JSONResponse(
            {
                "sealedKey": base64.b64encode(issued.sealed_key).decode(),
                "holder": issued.holder,
                "institution": issued.institution_id,
                "attributes": list(issued.attributes),
                "attributesHash": "0x" + issued.attributes_hash.hex(),
                "epoch": issued.epoch,
                "txHash": issued.tx_hash,
                "blockNumber": issued.block_number,
            }
        )

    return app
