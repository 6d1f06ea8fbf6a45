"""The consortium emergency key and emergency share requests, relayed same origin for the
workstation's break-glass by threshold (``docs/break-glass.md``).

- ``GET /keys/emergency``: the chain's current emergency key (``EmergencyKeys.keyOf``: round,
  ``t``, ``h``, every ``h_i``) and the round's authorities (index, institution, the signer
  account ``Consortium.authorityOf`` records), what the SDK's ``read_directory`` reads from
  the node; 404 ``no_emergency_key`` before the first key ceremony completed;
- ``POST /keys/authorities/{institution}/emergency/shares``: a clinician's signed
  ``EmergencyShareRequest`` forwarded to that institution's authority's
  ``/emergency/shares`` as it is, and its answer or refusal back as it is.

Why the API relays: the page may only talk to its own origin (CSP ``connect-src 'self'``), as
for key requests (:mod:`ledger_api.routes.authority_keys`). The relay is thin on purpose: the
authority checks the clinician's signature, the opening and every record on chain and logs
the release (``EmergencyKeys.releaseShares``) before it answers, and seals the shares to the
one-time X25519 key the page signed into the request; the API can neither forge a request
nor read the shares, and the page checks every share's proof against ``h_i``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ledger_api.chain.emergency_keys import EmergencyKeysClient
from ledger_api.deps import ContextDep
from ledger_api.http_errors import NotFoundError
from ledger_api.routes.error_docs import error_responses
from ledger_api.services.access import chain_required
from ledger_api.services.authority_relay import relay_to_authority

router = APIRouter(tags=["keys"])

MAX_SHARE_REQUEST = 2 * 1024 * 1024
"""As the authority's own limit (``ledger_api.authority.emergency_routes.MAX_BODY``)."""
MAX_SHARE_ANSWER = 1024 * 1024
"""512 records' sealed shares and transaction hashes stay well under this."""


class EmergencyAuthorityOut(BaseModel):
    index: int
    institution_id: int
    signer: str


class EmergencyKeyOut(BaseModel):
    chain_id: int
    emergency_keys: str
    round: int
    t: int
    h: str
    verification_keys: str
    authorities: list[EmergencyAuthorityOut]


@router.get(
    "/keys/emergency",
    summary="The consortium emergency key and its authorities, from the chain",
    responses=error_responses(s404="no_emergency_key"),
)
def emergency_key(ctx: ContextDep) -> EmergencyKeyOut:
    with chain_required("cannot read the emergency key from EmergencyKeys"):
        address = ctx.deployment.addresses().get("EmergencyKeys")
        if not address:
            raise NotFoundError("this deployment has no EmergencyKeys", code="no_emergency_key")
        board = EmergencyKeysClient(ctx.chain.w3, address)
        key_round = board.current_round()
        if key_round == 0:
            raise NotFoundError("the consortium has no emergency key yet", code="no_emergency_key")
        key = board.public_key(key_round)
        institutions = board.round_info(key_round).institutions
        authorities = [
            EmergencyAuthorityOut(
                index=index,
                institution_id=inst,
                signer=ctx.chain.consortium.authority_of(inst).signer,
            )
            for index, inst in enumerate(institutions, start=1)
        ]
        chain_id = board.chain_id()
    return EmergencyKeyOut(
        chain_id=chain_id,
        emergency_keys=address,
        round=key_round,
        t=key.t,
        h="0x" + key.h_bytes().hex(),
        verification_keys="0x" + key.verification_keys_bytes().hex(),
        authorities=authorities,
    )


@router.post(
    "/keys/authorities/{institution}/emergency/shares",
    summary="Relay a clinician's signed emergency share request to an institution's authority",
    responses=error_responses(
        s404="not_found", s413="body_too_large", s502="authority_unreachable"
    ),
)
async def relay_share_request(
    institution: Annotated[int, Path(ge=1, le=2**32 - 1)], request: Request, ctx: ContextDep
) -> Response:
    """The authority checks the request and the opening on chain and logs the release; its
    answer (shares sealed to the page's key) or refusal comes back unchanged."""
    relayed = await relay_to_authority(
        ctx=ctx,
        institution=institution,
        raw=await request.body(),
        path="/emergency/shares",
        what="share request",
        max_request=MAX_SHARE_REQUEST,
        max_answer=MAX_SHARE_ANSWER,
        timeout=120.0,
    )
    return Response(
        content=relayed.content, status_code=relayed.status_code, media_type="application/json"
    )
