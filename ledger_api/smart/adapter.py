"""The thin FastAPI ↔ authlib adapter (authlib ships Flask and Django servers, not FastAPI).

authlib's server code is synchronous and reads a request through ``payload.data`` (query and
form merged, form first), ``form``, ``args`` and ``headers``. Starlette reads bodies
asynchronously, so a route awaits the body first (:func:`oauth_request`, :func:`json_request`),
hands authlib a request object that holds everything already read, and runs the synchronous
server in the thread pool. authlib's ``(status, body, headers)`` results become responses in
:func:`to_response`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from authlib.oauth2.rfc6749 import JsonPayload, JsonRequest, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ledger_api.smart.server import OAuthResult

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_JSON_BYTES = 32 * 1024
_CHECKED = "https://api.invalid/"  # passes authlib's transport check (see below)


class _Payload(OAuth2Payload):
    def __init__(self, args: dict[str, list[str]], form: dict[str, list[str]]) -> None:
        merged: defaultdict[str, list[str]] = defaultdict(list)
        for source in (form, args):
            for key, values in source.items():
                merged[key].extend(values)
        self._datalist = merged
        self._data = {key: values[0] for key, values in merged.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class FastAPIOAuth2Request(OAuth2Request):
    """An :class:`OAuth2Request` whose query and form were read before authlib sees it."""

    def __init__(
        self, request: Request, form: dict[str, list[str]], extra: dict[str, Any] | None = None
    ) -> None:
        # authlib refuses a request URL that is not https (or loopback); behind the TLS-ending
        # proxy every deployment has (docs/deployment.md) the API sees http, so transport
        # security is the deployment's to enforce, not the request URL's to prove
        super().__init__(method=request.method, uri=_CHECKED, headers=request.headers)
        self.uri = str(request.url)
        args: dict[str, list[str]] = defaultdict(list)
        for key, value in request.query_params.multi_items():
            args[key].append(value)
        self._args = {key: values[0] for key, values in args.items()}
        self._form = {key: values[0] for key, values in form.items()}
        self.payload = _Payload(args, form)
        self.extra = extra or {}

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _JsonPayload(JsonPayload):
    def __init__(self, data: Any) -> None:
        self._data = data

    @property
    def data(self) -> Any:
        return self._data


class FastAPIJsonRequest(JsonRequest):
    def __init__(self, request: Request, data: Any) -> None:
        super().__init__(request.method, str(request.url), request.headers)
        self.payload = _JsonPayload(data)
        self.credential: Any = None
        self.smart_manifest: Any = None


async def oauth_request(request: Request) -> FastAPIOAuth2Request:
    """The request with its urlencoded form (if any) read."""
    form: dict[str, list[str]] = defaultdict(list)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        for key, value in (await request.form()).multi_items():
            if isinstance(value, str):
                form[key].append(value)
    return FastAPIOAuth2Request(request, form)


async def json_request(request: Request) -> FastAPIJsonRequest:
    """The request with its JSON body read (a body that is not JSON: invalid metadata)."""
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise InvalidClientMetadataError("the registration is too large")
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise InvalidClientMetadataError("the body is not JSON") from exc
    return FastAPIJsonRequest(request, data)


def to_response(result: OAuthResult) -> Response:
    """authlib's result as a response (JSON bodies, authlib's headers, never cached)."""
    headers = {**dict(result.headers), **NO_STORE}
    headers.pop("Content-Type", None)
    if isinstance(result.body, dict):
        body = {k: v for k, v in result.body.items() if v is not None}
        return JSONResponse(body, status_code=result.status, headers=headers)
    return Response(result.body or b"", status_code=result.status, headers=headers)


def error_response(error: Any) -> Response:
    """An :class:`authlib.oauth2.OAuth2Error` as JSON (never a redirect: the page decides;
    ``redirect_to`` carries the client's error redirect where RFC 6749 allows one)."""
    status, _, headers = error()
    payload: dict[str, Any] = {"error": error.error}
    if error.description:
        payload["error_description"] = error.description
    location = dict(headers or []).get("Location")
    if location:
        payload["redirect_to"] = location
    return JSONResponse(payload, status_code=400 if status == 302 else status, headers=NO_STORE)
