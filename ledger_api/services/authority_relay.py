"""Same-origin relays to an institution's key authority, for the web apps.

The page may only talk to its own origin (CSP ``connect-src 'self'``), so the API forwards a
member's signed key request (``/keys``) and a clinician's signed emergency share request
(``/emergency/shares``) to the authority whose URL ``Consortium`` records. The relay is thin
on purpose: the authority checks every signature and rule on chain and logs what it releases;
the API can neither forge a request nor read what comes back sealed to the page's key. What it
does guard: the request size, and the answer, passed on only when it is what an authority sends
(one JSON object of bounded size, a 2xx–4xx status), so that a URL an institution's admin put
on chain cannot turn the API into a proxy that reads other services' answers back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from ledger_api.http_errors import ApiError, NotFoundError, PayloadTooLargeError
from ledger_api.services.access import chain_required


class AuthorityUnreachableError(ApiError):
    """The authority's process did not answer, or answered with another key than the chain's,
    or with something that is not an authority's answer."""

    status_code = 502


@dataclass(frozen=True)
class RelayedAnswer:
    """The authority's status and body, passed on unchanged."""

    status_code: int
    content: bytes


def registered_authority(ctx: Any, institution: int) -> Any:
    """``Consortium.authorityOf(institution)``; 404 for an unknown institution or one that has
    registered no authority."""
    with chain_required("cannot read the authority from Consortium"):
        if institution > ctx.chain.consortium.institution_count():
            raise NotFoundError(f"no institution {institution}", code="not_found")
        auth = ctx.chain.consortium.authority_of(institution)
    if not auth.registered:
        raise NotFoundError(
            f"institution {institution} has registered no key authority", code="not_found"
        )
    return auth


async def relay_to_authority(
    *,
    ctx: Any,
    institution: int,
    raw: bytes,
    path: str,
    what: str,
    max_request: int,
    max_answer: int,
    timeout: float,
) -> RelayedAnswer:
    """POST ``raw`` (JSON) to ``<authority URL><path>``; its answer when it is one JSON object
    of at most ``max_answer`` bytes with a 2xx–4xx status, else 502."""
    if len(raw) > max_request:
        raise PayloadTooLargeError(
            f"a {what} is at most {max_request} bytes", code="body_too_large"
        )
    auth = registered_authority(ctx, institution)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            answer = await client.post(
                auth.url.rstrip("/") + path,
                content=raw,
                headers={"content-type": "application/json"},
            )
    except httpx.HTTPError as exc:
        raise AuthorityUnreachableError(
            f"the key authority of institution {institution} did not answer: {exc}",
            code="authority_unreachable",
        ) from None
    content = answer.content
    if len(content) > max_answer or not 200 <= answer.status_code < 500:
        raise AuthorityUnreachableError(
            f"the key authority of institution {institution} answered HTTP "
            f"{answer.status_code} with {len(content)} bytes",
            code="authority_unreachable",
        )
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise AuthorityUnreachableError(
            f"the key authority of institution {institution} did not answer with a JSON object",
            code="authority_unreachable",
        )
    return RelayedAnswer(status_code=answer.status_code, content=content)
