"""RFC 7591 dynamic client registration, for apps Live on the marketplace only.

The request names the listing: ``software_id`` = the app id (bytes32 hex) and
``software_version`` = the version number. The server reads the version on chain (it must be
Live), fetches its manifest and checks it against the approved digest (:mod:`.manifest`), and
registers no more than the manifest declares: each redirect URI must be one of the manifest's
(``invalid_redirect_uri``), the scopes a subset of the manifest's (default: all of them), the
client type (public → ``none``, confidential-symmetric → ``client_secret_basic``) the
manifest's. A manifest with a scope outside the SMART grammar is refused whole
(``invalid_client_metadata``): the administrators approved something the server cannot
enforce. No initial access token is asked: the on-chain listing is the gate.
"""

from __future__ import annotations

import json
import re
from typing import Any

from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError, InvalidRedirectURIError

from ledger_api.chain.errors import ChainError
from ledger_api.chain.marketplace import AppStatus
from ledger_api.smart import manifest as mf
from ledger_api.smart import scopes as sc
from ledger_api.smart.errors import ManifestError, ScopeSyntaxError
from ledger_api.smart.store import digest, log_event, now
from storage.models import SmartClient

_APP_ID = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
STATUS_NAMES = {
    AppStatus.NONE: "unknown",
    AppStatus.IN_REVIEW: "In Review",
    AppStatus.LIVE: "Live",
    AppStatus.REJECTED: "Rejected",
    AppStatus.SUSPENDED: "Suspended",
    AppStatus.RETIRED: "Retired",
}


def listing_of(data: dict[str, Any]) -> tuple[bytes, int]:
    app_id, version = data.get("software_id"), data.get("software_version")
    if not isinstance(app_id, str) or not _APP_ID.match(app_id):
        raise InvalidClientMetadataError("software_id must be the marketplace app id (bytes32)")
    if not isinstance(version, str | int) or not str(version).isdigit():
        raise InvalidClientMetadataError("software_version must be the version number")
    number = int(version)
    if not 0 < number < 2**32:
        raise InvalidClientMetadataError("software_version is out of range")
    return bytes.fromhex(app_id.removeprefix("0x")), number


class Registration(ClientRegistrationEndpoint):
    """authlib's RFC 7591 endpoint with the marketplace checks."""

    def authenticate_token(self, request: Any) -> bool:
        return True  # the gate is the on-chain listing, checked in extract_client_metadata

    def get_server_metadata(self) -> dict[str, Any]:
        return {
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        }

    def extract_client_metadata(self, request: Any) -> dict[str, Any]:
        data = request.payload.data
        if not isinstance(data, dict):
            raise InvalidClientMetadataError("the registration is a JSON object")
        app_id, version = listing_of(data)
        market = self.server.ctx.chain.marketplace
        try:
            info = market.version_of(app_id, version)
        except ChainError as exc:
            raise InvalidClientMetadataError("no such app version on the marketplace") from exc
        if info.status != AppStatus.LIVE:
            raise InvalidClientMetadataError(
                f"version {version} is {STATUS_NAMES[info.status]}, not Live: only Live apps "
                "may register"
            )
        try:
            manifest = mf.parse(
                app_id, version, info, mf.fetch_document(self.server.ctx.store, info)
            )
        except ScopeSyntaxError as exc:
            raise InvalidClientMetadataError(f"the manifest declares an {exc}") from exc
        except ManifestError as exc:
            raise InvalidClientMetadataError(str(exc)) from exc
        metadata = super().extract_client_metadata(request)
        uris = metadata.get("redirect_uris") or []
        if not uris:
            raise InvalidRedirectURIError("redirect_uris is required")
        for uri in uris:
            if uri not in manifest.redirect_urls:
                raise InvalidRedirectURIError(f"{uri} is not a redirect URL of the manifest")
        try:
            asked = sc.parse_all(metadata.get("scope")) or list(manifest.scopes)
        except ScopeSyntaxError as exc:
            raise InvalidClientMetadataError(str(exc)) from exc
        beyond = [s.text for s in asked if s not in sc.covered(asked, manifest.scopes)]
        if beyond:
            raise InvalidClientMetadataError(f"scopes not declared by the listing: {beyond}")
        # the raw request: authlib fills in client_secret_basic when it is absent
        method = data.get("token_endpoint_auth_method") or manifest.auth_method
        if method != manifest.auth_method:
            raise InvalidClientMetadataError(
                f"the manifest's client type {manifest.client_type} uses {manifest.auth_method}"
            )
        metadata.update(
            scope=sc.to_text(asked),
            token_endpoint_auth_method=method,
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            software_id="0x" + app_id.hex(),
            software_version=str(version),
            client_name=metadata.get("client_name") or manifest.name,
        )
        if manifest.launch_url:
            metadata["initiate_login_uri"] = manifest.launch_url
        request.smart_manifest = manifest
        return metadata

    def generate_client_secret(self, request: Any) -> str | None:
        if request.smart_manifest.auth_method == "none":
            return None
        return super().generate_client_secret(request)

    def save_client(
        self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any
    ) -> SmartClient:
        manifest: mf.Manifest = request.smart_manifest
        secret = client_info.get("client_secret")
        row = SmartClient(
            client_id=client_info["client_id"],
            secret_hash=digest(secret) if secret else None,
            app_id="0x" + manifest.app_id.hex(),
            version=manifest.version,
            name=client_metadata["client_name"][:200],
            auth_method=client_metadata["token_endpoint_auth_method"],
            redirect_uris=json.dumps(client_metadata["redirect_uris"]),
            launch_url=manifest.launch_url,
            scope=client_metadata["scope"],
            created_at=now(),
        )
        self.server.db.add(row)
        log_event(self.server.db, "client_registered", row.client_id, scope=row.scope)
        return row
