"""How the gateway reaches MedLedger: through the SDK, as the account the gateway signs as.

The sink depends only on :class:`LedgerPort` (share a validated FHIR resource under a record
id), which :class:`clients.sdk.MedLedgerClient` satisfies. The
account is loaded from the environment variable or key file named in ``gateway.yaml``
(``medledger.account_key_env`` / ``account_key_file``). Today that account is an enrolled
clinician of the institution, because the API lets clinicians author records; once
``Consortium`` has a ``Gateway`` role the same key slot holds the gateway's system account
and nothing else here changes (see ``docs/gateway.md``, "What the lead wires").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from eth_account import Account
from eth_account.signers.local import LocalAccount

from clients.gateway.errors import SinkError


class LedgerPort(Protocol):
    """What the sink needs from a MedLedger session (the SDK client has it)."""

    def share_fhir(
        self, resource: dict[str, Any], *, patient: str, policy: str, record_id: bytes | None
    ) -> Any: ...

    def close(self) -> None: ...


def load_account(settings: dict[str, Any], root: Path) -> LocalAccount:
    """The gateway's signing account, from ``account_key_env`` or ``account_key_file``."""
    env = settings.get("account_key_env", "MEDLEDGER_GATEWAY_KEY")
    key = os.environ.get(env)
    if not key and settings.get("account_key_file"):
        path = root / settings["account_key_file"]
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise SinkError(f"cannot read the gateway key file {path}: {exc.strerror}") from None
    if not key:
        raise SinkError(f"no gateway account: set {env} (a hex private key) or account_key_file")
    try:
        return Account.from_key(key)
    except (ValueError, TypeError):
        raise SinkError(f"{env} is not a private key (0x and 64 hex digits)") from None


def sdk_factory(url: str, account: LocalAccount) -> Any:
    """A function that opens one SDK session (one per sink thread: a client is per thread)."""

    def open_client() -> LedgerPort:
        from clients.sdk import MedLedgerClient

        return MedLedgerClient(url, account=account)  # type: ignore[return-value]

    return open_client


def api_status(exc: BaseException) -> int | None:
    """The HTTP status of an SDK ``ApiError`` (duck-typed: the SDK's module path is moving)."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def is_client_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the SDK's base error (found by name along the MRO, for the same
    reason as :func:`api_status`)."""
    return any(cls.__name__ == "ClientError" for cls in type(exc).__mro__)


def is_awaiting_patient_key(exc: BaseException) -> bool:
    """Whether ``exc`` is the SDK's ``PatientKeyNotRegisteredError``: the patient has linked a
    wallet but not yet registered its key, so the row waits (by name, as above)."""
    return any(cls.__name__ == "PatientKeyNotRegisteredError" for cls in type(exc).__mro__)
