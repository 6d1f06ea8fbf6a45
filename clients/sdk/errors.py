"""Errors the MedLedger clients (SDK, wallet, CLI) raise: one base class, one line each.

Everything the SDK raises derives from :class:`ClientError`, so the command line can catch one
type and print ``str(error)`` as a single line with no traceback. The message says what went
wrong and, where it helps, what to do; the HTTP errors keep the API's stable ``code`` so that
callers branch on it rather than on wording.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every error raised by ``clients``."""


class ApiError(ClientError):
    """The API answered with a non-2xx status; ``code`` is its stable error code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(f"{message} (HTTP {status}, {code})")


class UnauthorizedError(ApiError):
    """401: not signed in, or the session ended and could not be renewed."""


class NotAllowedError(ApiError):
    """403: the caller may not do this (and for reads, the refusal was logged on chain)."""


class NotFoundError(ApiError):
    """404: no such record, consent or route."""


class PatientKeyNotRegisteredError(ClientError):
    """The patient has no key on chain yet, so no record can be written for them (its patient
    slot would have nowhere to go); they register one with their wallet, then a retry works."""

    def __init__(self, patient: str) -> None:
        self.patient = patient
        super().__init__(
            f"patient {patient} has not registered their key yet: they run "
            "`medledger patient register-key` (or the web wallet does it at first sign-in)"
        )


class ApiUnavailableError(ClientError):
    """The API could not be reached (connection refused, DNS, timeout).

    ``request_sent`` is True when the connection broke after the request went out: the API
    may have acted on it, so only an idempotent request may be sent again."""

    def __init__(self, url: str, why: str, *, request_sent: bool = False) -> None:
        self.url = url
        self.why = why
        self.request_sent = request_sent
        super().__init__(f"cannot reach the MedLedger API at {url}: {why}")


class FhirValidationError(ClientError):
    """The resource is not valid FHIR R4(B); nothing was encrypted or uploaded."""


class DecryptionError(ClientError):
    """The key does not satisfy the record's policy, or the record was tampered with."""


class IntegrityError(DecryptionError):
    """What was served does not match what the chain registered for the record: a header or
    body digest, the record or patient an envelope is bound to, or its author's seal."""


class ChainReadError(ClientError):
    """The chain node the client reads registrations from could not be asked."""


class WalletError(ClientError):
    """A keystore problem: missing, malformed, name taken, no saved user key."""


class WrongPasswordError(WalletError):
    """The wallet password does not open the keystore (or the saved key file)."""


class WalletNotFoundError(WalletError):
    """No wallet with that name or address in the data directory."""


class EmergencySharesError(ClientError):
    """Fewer than ``t`` key authorities gave valid emergency decryption shares; ``failures``
    maps each authority asked (by index) to why it failed (a refusal's code, an unreachable
    URL, or a share whose proof fails: the authority is named)."""

    def __init__(self, message: str, *, failures: dict[int, str]) -> None:
        details = "; ".join(f"authority {i}: {why}" for i, why in sorted(failures.items()))
        super().__init__(f"{message} ({details})" if details else message)
        self.failures = dict(failures)
