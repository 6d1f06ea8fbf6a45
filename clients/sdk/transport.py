"""The HTTP layer under the SDK: one httpx client, the API's error shape, sessions.

Every request goes through :meth:`Transport.send` (or :meth:`Transport.stream` for downloads),
which turns transport failures into :class:`ApiUnavailableError` naming the URL, and non-2xx
answers into the :class:`ApiError` subclass for their status, carrying the API's stable
``code``. A request that needs a session signs in first; a 401 on an existing session (expired
or revoked) signs in again once and repeats the request, so long-running clients survive the
API's short session lifetime without the caller noticing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from clients.sdk.errors import (
    ApiError,
    ApiUnavailableError,
    NotAllowedError,
    NotFoundError,
    UnauthorizedError,
)

_BY_STATUS: dict[int, type[ApiError]] = {
    401: UnauthorizedError,
    403: NotAllowedError,
    404: NotFoundError,
}
_MAX_ERROR_BODY = 64 * 1024


def api_error(response: httpx.Response) -> ApiError:
    """The :class:`ApiError` for a non-2xx response (its body must have been read)."""
    code, message, details = "http_error", response.reason_phrase or "error", {}
    try:
        body = json.loads(response.content[:_MAX_ERROR_BODY])
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
    elif isinstance(body, dict) and "detail" in body:  # a framework default answer
        message = str(body["detail"])
    cls = _BY_STATUS.get(response.status_code, ApiError)
    return cls(response.status_code, code, message, details=details)


class Transport:
    """An httpx client bound to one API base URL, with the bearer token of one session.

    ``login`` is called (at most once per request) when a request needs a session and none is
    held, or when the held one was refused with 401; it must set :attr:`token`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        http: httpx.Client | None = None,
        login: Callable[[], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._own_http = http is None
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self.login = login
        self.token: str | None = None

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def _headers(self, auth: bool) -> dict[str, str]:
        if auth and self.token is None and self.login is not None:
            self.login()
        return {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}

    def _retry_login(self, response: httpx.Response, auth: bool, attempt: int) -> bool:
        """After a 401 on a held session: sign in again once, then repeat the request."""
        if not (auth and attempt == 0 and response.status_code == 401 and self.login):
            return False
        self.token = None
        return True

    def send(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        rewind: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request and return its 2xx response; raise for anything else.

        ``rewind`` is called before a repeated attempt (file bodies must start over)."""
        extra = kwargs.pop("headers", {})
        for attempt in range(2):
            if attempt and rewind is not None:
                rewind()
            headers = {**extra, **self._headers(auth)}
            try:
                response = self.http.request(method, self.url(path), headers=headers, **kwargs)
            except httpx.TransportError as exc:
                raise self.unavailable(exc) from None
            if self._retry_login(response, auth, attempt):
                continue
            if response.is_success:
                return response
            raise api_error(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`send` and decode the JSON answer (``None`` for 204)."""
        response = self.send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                response.status_code, "bad_response", f"{method} {path} did not answer JSON"
            ) from None

    @contextmanager
    def stream(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """A 2xx response whose body is not read yet (iterate ``iter_bytes``)."""
        extra = kwargs.pop("headers", {})
        for attempt in range(2):
            headers = {**extra, **self._headers(auth)}
            try:
                with self.http.stream(
                    method, self.url(path), headers=headers, **kwargs
                ) as response:
                    if not response.is_success:
                        response.read()
                        if self._retry_login(response, auth, attempt):
                            continue
                        raise api_error(response)
                    try:
                        yield response
                    except httpx.TransportError as exc:
                        raise self.unavailable(exc, during="the download") from None
                    return
            except httpx.TransportError as exc:
                raise self.unavailable(exc) from None

    def unavailable(
        self, exc: httpx.TransportError, *, during: str | None = None
    ) -> ApiUnavailableError:
        why = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            why = f"timed out ({type(exc).__name__})"
        if during is not None:  # the API answered, then the stream broke off
            why = f"{during} broke off: {why}"
        unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        return ApiUnavailableError(self.base_url, why, request_sent=not unsent)
