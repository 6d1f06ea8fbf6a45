"""A test client that signs record reads, workflow steps and break-glass writes the way the
SDK does.

Every ``GET /records/{id}/header|body`` must carry the reader's signed ``ReadRequest``
(:mod:`ledger_api.services.read_requests`). Most API tests are about something else (consents,
workflows, rate limits …) and read through ``stack.client`` with a session header; this client
adds the three read headers for the account behind that session, exactly as
``clients.sdk.records`` signs them. A request that already names any read header, or carries
no session, is sent as it is: the tests of the read signature itself build their headers.

Likewise a workflow or break-glass write whose JSON body has no ``signed`` gets the session
account's signature of the message the body stands for (:mod:`tests.api.signing_writes`).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from crypto.signing import Purpose, ReadPart, ReadRequest, sign
from ledger_api.services.read_requests import SignedRead, parse_read
from tests.api.signing_writes import sign_write

READ_PATH = re.compile(r"^/records/(0x[0-9a-fA-F]{64})/(header|body)$")
READ_HEADERS = ("X-Read-Issued-At", "X-Read-Nonce", "X-Read-Signature")


def signed_read_headers(
    account: LocalAccount,
    *,
    chain_id: int,
    access_log: str,
    record_id: str,
    part: ReadPart,
    purpose: int,
    issued_at: int | None = None,
    nonce: int | None = None,
) -> dict[str, str]:
    """The headers of a read signed by ``account``."""
    request = ReadRequest(
        record_id=bytes.fromhex(record_id[2:]),
        part=part,
        purpose=purpose,
        issued_at=int(time.time()) if issued_at is None else issued_at,
        nonce=secrets.randbits(64) if nonce is None else nonce,
    )
    domain = ReadRequest.domain(chain_id=chain_id, verifying_contract=access_log)
    return {
        "X-Read-Issued-At": str(request.issued_at),
        "X-Read-Nonce": str(request.nonce),
        "X-Read-Signature": "0x" + sign(domain, request, account.key).hex(),
    }


def purpose_code(value: str | None) -> int:
    if value is None or value == "":
        return int(Purpose.TREATMENT)
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        return int(Purpose[value.strip().upper()])
    except KeyError:
        return int(Purpose.TREATMENT)  # the API refuses the purpose before the signature


class SigningClient(TestClient):
    """``TestClient`` + the SDK's read signatures for sessions it knows (``signers``)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.signers: dict[str, LocalAccount] = {}  # "Bearer <token>" -> the session's account

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        headers = dict(kwargs.get("headers") or {})
        path = urlsplit(str(url))
        match = READ_PATH.match(path.path)
        account = self.signers.get(headers.get("Authorization", ""))
        named = {k.lower() for k in headers}
        if method.upper() == "GET" and match and account and not named & _LOWER_READ_HEADERS:
            params = dict(kwargs.get("params") or {})
            query = parse_qs(path.query)
            purpose = params.get("purpose", (query.get("purpose") or [None])[0])
            ctx = self.app.state.ctx  # type: ignore[attr-defined]
            headers.update(
                signed_read_headers(
                    account,
                    chain_id=ctx.deployment.chain_id,
                    access_log=ctx.deployment.address("AccessLog"),
                    record_id=match.group(1).lower(),
                    part=ReadPart.HEADER if match.group(2) == "header" else ReadPart.BODY,
                    purpose=purpose_code(None if purpose is None else str(purpose)),
                )
            )
            kwargs["headers"] = headers
        body = kwargs.get("json")
        if method.upper() == "POST" and account and isinstance(body, dict) and "signed" not in body:
            ctx = self.app.state.ctx  # type: ignore[attr-defined]
            signed = sign_write(ctx, account, path.path, body)
            if signed is not None:
                kwargs["json"] = signed
        return super().request(method, url, **kwargs)


_LOWER_READ_HEADERS = {h.lower() for h in READ_HEADERS}


def signed_read(
    ctx: Any,
    account: LocalAccount,
    record_id: str,
    part: ReadPart = ReadPart.BODY,
    purpose: int = 0,
) -> SignedRead:
    """A fresh signed read request of ``account`` for the service layer (no HTTP)."""
    headers = signed_read_headers(
        account,
        chain_id=ctx.deployment.chain_id,
        access_log=ctx.deployment.address("AccessLog"),
        record_id=record_id,
        part=part,
        purpose=purpose,
    )
    return parse_read(headers, record_id=record_id, part=part, purpose=Purpose(purpose))
