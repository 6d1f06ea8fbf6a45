"""The user's side of a SMART app launch: the page's job, in Python.

An app holds no key, so the launching user's client reads and decrypts for it
(``docs/marketplace.md``): it launches the app on a chart, approves the app's authorisation
request by signing ``AppAuthorization`` (on chain before any code exists), then answers the
app's data requests — introspecting the app's token with its own session, checking the
request against the token's scopes, reading each matching record with an ``AppReadRequest``
signed for that app, and decrypting with its own key. A patient lists their connected apps and
revokes one on chain. The workstation and the wallet do the same in the browser; this mixin is
what the SDK's users (and the tests, and ``scripts/bench_marketplace.py``) drive.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from clients.sdk.smart_models import AppGrant, AppRefusedError, allows_read
from clients.sdk.transport import Transport
from crypto.signing import AppAuthorization, AppRevocation, client_id_hash, scope_hash

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from clients.sdk.models import Page, RecordInfo
    from crypto.signing import TypedMessage

__all__ = ["SmartMixin"]

SIGNED_SECONDS = 600
MAX_RESOURCES = 200


class SmartMixin:
    """Launch, approve, bridge and revoke SMART apps as the signed-in user."""

    _http: Transport

    if TYPE_CHECKING:

        def _require_account(self) -> LocalAccount: ...

        def sign_action(self, message: TypedMessage) -> bytes: ...

        def list_records(
            self, patient: str, *, purpose: str = "treatment", offset: int = 0, limit: int = 50
        ) -> Page[RecordInfo]: ...

        def fetch_bytes(self, record_id: str, **kwargs: Any) -> bytes: ...

    def launch_app(self, app_id: bytes | str, patient: str) -> dict[str, Any]:
        """An EHR launch of the app on ``patient``'s chart: ``{launch, launch_url}``."""
        return self._http.json(
            "POST", "/smart/launch", json={"app_id": _hex32(app_id), "patient": patient}
        )

    def approve_app(
        self,
        authorize_url: str,
        *,
        scopes: list[str] | None = None,
        patient: str | None = None,
        deny: bool = False,
    ) -> dict[str, Any]:
        """The consent step of the app's authorisation request (the URL the app navigated to):
        read what it asks, sign ``AppAuthorization`` of the approved scopes (all offered when
        ``scopes`` is None) and send the decision; ``{redirect_to, authorization_tx}``."""
        path = authorize_url[authorize_url.index("/smart/authorize") :]
        shown = self._http.json("GET", path)
        if deny:
            return self._http.json("POST", path, json={"deny": True})
        offered = [s["scope"] for s in shown["scopes"]]
        granted = offered if scopes is None else [s for s in scopes if s in offered]
        account = self._require_account()
        message = AppAuthorization(
            user=account.address,
            patient=shown["patient"] or patient or account.address,
            app_id=bytes.fromhex(shown["sign"]["app_id"][2:]),
            client_id=client_id_hash(shown["client_id"]),
            scope_hash=scope_hash(granted),
            nonce=secrets.randbits(256),
            deadline=int(time.time()) + SIGNED_SECONDS,
        )
        decision: dict[str, Any] = {
            "scopes": granted,
            "authorization": _signed(message, self.sign_action(message)),
        }
        if patient is not None:
            decision["patient"] = patient
        return self._http.json("POST", path, json=decision)

    def introspect_app(self, access_token: str) -> AppGrant:
        """The app's token as the API describes it to its user (refused when inactive)."""
        raw = self._http.json("POST", "/smart/introspect", data={"token": access_token})
        return AppGrant.from_introspection(access_token, raw)

    def app_search(
        self, access_token: str, resource_type: str, *, patient: str | None = None
    ) -> dict[str, Any]:
        """The app's ``fhir.search`` answered as the page answers it: a FHIR ``searchset``
        Bundle of the chart's ``resource_type`` records, each read for the app (signed and
        logged on chain with its ids) and decrypted here. Refused (:class:`AppRefusedError`)
        when the token is inactive or its scopes do not cover the request."""
        grant = self.introspect_app(access_token)
        patient = patient or grant.patient
        if patient is None or not allows_read(grant, resource_type, patient):
            raise AppRefusedError(
                f"the app's scopes ({' '.join(grant.scope)}) do not allow reading "
                f"{resource_type} of {patient}"
            )
        entries = []
        for record in self.list_records(patient, limit=MAX_RESOURCES).items:
            if record.record_type != resource_type:
                continue
            body = self.fetch_bytes(record.record_id, app=grant)
            entries.append(
                {"fullUrl": f"urn:medledger:{record.record_id}", "resource": json.loads(body)}
            )
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "entry": entries,
        }

    def app_read(self, access_token: str, record_id: str) -> dict[str, Any]:
        """The app's ``fhir.read`` of one record: checked, read for the app, decrypted."""
        grant = self.introspect_app(access_token)
        return json.loads(self.fetch_bytes(record_id, app=grant))

    def app_connections(self) -> list[dict[str, Any]]:
        """The apps connected to the caller's chart (``GET /smart/connections``)."""
        return list(self._http.json("GET", "/smart/connections")["connections"])

    def revoke_app(self, app_id: bytes | str) -> dict[str, Any]:
        """Revoke the app on chain (the patient's signed ``AppRevocation``): its tokens for the
        caller's chart die at once and every later read for it is refused."""
        account = self._require_account()
        app = _hex32(app_id)
        message = AppRevocation(
            patient=account.address,
            app_id=bytes.fromhex(app[2:]),
            nonce=secrets.randbits(256),
            deadline=int(time.time()) + SIGNED_SECONDS,
        )
        return self._http.json(
            "POST", f"/smart/apps/{app}/revoke", json=_signed(message, self.sign_action(message))
        )


def _signed(message: AppAuthorization | AppRevocation, signature: bytes) -> dict[str, Any]:
    return {
        "nonce": str(message.nonce),
        "deadline": message.deadline,
        "signature": "0x" + signature.hex(),
    }


def _hex32(value: bytes | str) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else value.lower()
