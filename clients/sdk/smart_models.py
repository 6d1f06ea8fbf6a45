"""What the user's client knows of a SMART app it reads for (``docs/marketplace.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.sdk.errors import ClientError

__all__ = ["AppGrant", "AppRefusedError", "allows_read"]


class AppRefusedError(ClientError):
    """The page refuses the app's request: inactive token, or outside its scopes. The app
    gets an ``OperationOutcome`` (``forbidden``) and no data."""

    def outcome(self) -> dict[str, Any]:
        return {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "forbidden", "diagnostics": str(self)}],
        }


@dataclass(frozen=True)
class AppGrant:
    """An app's live token as the user's own introspection describes it: what the client
    signs the app's reads with (``app_id``, ``client_id_hash``) and what they may reach."""

    access_token: str
    client_id: str
    app_id: bytes
    client_id_hash: bytes
    scope: tuple[str, ...]
    patient: str | None

    @classmethod
    def from_introspection(cls, access_token: str, raw: dict[str, Any]) -> AppGrant:
        if not raw.get("active"):
            raise AppRefusedError("the app's token is not active (revoked, expired or not yours)")
        return cls(
            access_token=access_token,
            client_id=str(raw["client_id"]),
            app_id=bytes.fromhex(str(raw["app_id"])[2:]),
            client_id_hash=bytes.fromhex(str(raw["client_id_hash"])[2:]),
            scope=tuple(str(raw.get("scope", "")).split()),
            patient=raw.get("patient"),
        )


def allows_read(grant: AppGrant, resource_type: str, patient: str) -> bool:
    """Whether the token's scopes let the app read ``resource_type`` of ``patient``'s chart:
    a ``patient/`` scope for the token's patient only, a ``user/`` scope for any chart the
    user may read; ``*`` matches every type. (A query-constrained scope admits the type; the
    caller applies its query to the decrypted resources.)"""
    for scope in grant.scope:
        context, _, rest = scope.partition("/")
        if context not in ("patient", "user") or "." not in rest:
            continue
        resource, _, permissions = rest.partition(".")
        permissions = permissions.split("?", 1)[0]
        if resource not in ("*", resource_type) or "r" not in permissions:
            continue
        if context == "user" or (grant.patient or "").lower() == patient.lower():
            return True
    return False
