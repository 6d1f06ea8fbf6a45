"""An institution authority's public key and key requests, relayed same origin for the web apps.

- ``GET /keys/authorities/{institution}/public-key``: the authority's FAME public key;
- ``POST /keys/authorities/{institution}/keys``: a member's signed ``KeyRequest`` forwarded to
  the authority's ``/keys`` as it is, and its answer back as it is (the sealed key opens only
  with the X25519 key the page made and signed into the request; the API can neither forge a
  request nor open the answer).

Why the API relays it: the web apps encrypt in the page, and a page may only talk to its own
origin (the apps' CSP ``connect-src 'self'``; an authority's own process sends no CORS headers),
so the page cannot fetch ``<authority URL>/authority`` itself. The API fetches it from the URL
``Consortium.authorityOf`` records, refuses a key whose SHA-256 is not the digest on chain
(502 ``authority_key_mismatch``), and answers ``{institution, digest, mpk}`` (base64 of the key
file). The page checks the digest again before it encrypts (``clients/webwallet/src/upload.js``):
the API holds no secret, and a public key is public. Answers are cached per (institution,
digest): a new key registered on chain changes the digest and is fetched afresh.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ledger_api.deps import ContextDep
from ledger_api.routes.error_docs import error_responses
from ledger_api.services.authority_relay import (
    AuthorityUnreachableError,
    registered_authority,
    relay_to_authority,
)

router = APIRouter(tags=["keys"])

MAX_AUTHORITY_ANSWER = 64 * 1024
_cache: dict[tuple[int, bytes], bytes] = {}
_lock = threading.Lock()


class PublicKeyOut(BaseModel):
    institution: int
    digest: str = Field(description="The digest Consortium.authorityOf holds (0x hex).")
    mpk: str = Field(description="The authority's FAME public key file, base64.")


def _fetch(url: str) -> bytes:
    try:
        response = httpx.get(url.rstrip("/") + "/authority", timeout=5.0)
    except httpx.HTTPError as exc:
        raise AuthorityUnreachableError(
            f"the key authority at {url} did not answer: {exc}", code="authority_unreachable"
        ) from None
    if response.status_code != 200 or len(response.content) > MAX_AUTHORITY_ANSWER:
        raise AuthorityUnreachableError(
            f"the key authority at {url} answered HTTP {response.status_code}",
            code="authority_unreachable",
        )
    try:
        return base64.b64decode(response.json()["mpk"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthorityUnreachableError(
            f"the key authority at {url} sent no public key: {exc}", code="authority_unreachable"
        ) from None


MAX_KEY_REQUEST = 4096


@router.post(
    "/keys/authorities/{institution}/keys",
    summary="Relay a member's signed key request to their institution's authority",
    responses=error_responses(
        s404="not_found", s413="body_too_large", s502="authority_unreachable"
    ),
)
async def relay_key_request(
    institution: Annotated[int, Path(ge=1, le=2**32 - 1)], request: Request, ctx: ContextDep
) -> Response:
    """The authority checks the request (signature, membership, freshness, nonce) and logs the
    issuance on chain; its answer or refusal comes back unchanged."""
    relayed = await relay_to_authority(
        ctx=ctx,
        institution=institution,
        raw=await request.body(),
        path="/keys",
        what="key request",
        max_request=MAX_KEY_REQUEST,
        max_answer=MAX_AUTHORITY_ANSWER,
        timeout=60.0,
    )
    return Response(
        content=relayed.content, status_code=relayed.status_code, media_type="application/json"
    )


@router.get(
    "/keys/authorities/{institution}/public-key",
    summary="An institution authority's FAME public key, checked against its on-chain digest",
    responses=error_responses(
        s404="not_found", s502="authority_unreachable, authority_key_mismatch"
    ),
)
def authority_public_key(
    institution: Annotated[int, Path(ge=1, le=2**32 - 1)], ctx: ContextDep
) -> PublicKeyOut:
    auth: Any = registered_authority(ctx, institution)
    key = (institution, auth.pubkey_digest)
    with _lock:
        mpk = _cache.get(key)
    if mpk is None:
        mpk = _fetch(auth.url)
        if hashlib.sha256(mpk).digest() != auth.pubkey_digest:
            raise AuthorityUnreachableError(
                f"the key authority at {auth.url} serves a public key that is not the one "
                f"institution {institution} registered on chain: refused",
                code="authority_key_mismatch",
            )
        with _lock:
            _cache[key] = mpk
    return PublicKeyOut(
        institution=institution,
        digest="0x" + auth.pubkey_digest.hex(),
        mpk=base64.b64encode(mpk).decode(),
    )
