"""Helpers for the marketplace API tests: sign marketplace actions as a wallet would and send
them through ``POST /marketplace/actions/{kind}``; set up a vendor and the three
administrators through the same route (signed by the consortium admin)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from crypto.signing import (
    AdministratorChange,
    AdministratorRole,
    AppInstallation,
    AppRating,
    AppSubmission,
    AppVote,
    TypedMessage,
    VendorChange,
    sign,
)
from tests.api.conftest import Stack
from tests.contracts.marketplace_support import manifest

APP_ID = keccak(text="app:bp-chart")
KIND = {
    VendorChange: "vendor",
    AdministratorChange: "administrator",
    AppSubmission: "submit",
    AppVote: "vote",
    AppInstallation: "install",
    AppRating: "rate",
}

__all__ = ["APP_ID", "Market", "manifest"]


def deadline() -> int:
    return int(time.time()) + 3600


def nonce() -> int:
    return secrets.randbits(64)


def as_json(message: TypedMessage) -> dict[str, Any]:
    """The message as a wallet's eth_signTypedData_v4 JSON (bytes32 as 0x hex)."""
    out: dict[str, Any] = {}
    for key, value in message.message().items():
        out[key] = "0x" + bytes(value).hex() if isinstance(value, bytes) else value
    return out


@dataclass
class Market:
    stack: Stack
    vendor: LocalAccount = field(default_factory=Account.create)
    provider: LocalAccount = field(default_factory=Account.create)
    regulator: LocalAccount = field(default_factory=Account.create)
    authority: LocalAccount = field(default_factory=Account.create)

    @property
    def admins(self) -> list[LocalAccount]:
        return [self.provider, self.regulator, self.authority]

    def signature(self, signer: LocalAccount, message: TypedMessage) -> str:
        domain = message.domain(
            chain_id=self.stack.deployment.chain_id,
            verifying_contract=self.stack.deployment.address("Marketplace"),
        )
        return "0x" + sign(domain, message, signer.key).hex()

    def post(
        self,
        caller: LocalAccount,
        message: TypedMessage,
        *,
        signer: LocalAccount | None = None,
        kind: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """``caller`` (signed in) relays ``message`` signed by ``signer`` (default: caller)."""
        payload = body or {
            "message": as_json(message),
            "signature": self.signature(signer or caller, message),
        }
        return self.stack.client.post(
            f"/marketplace/actions/{kind or KIND[type(message)]}",
            json=payload,
            headers=self.stack.login(caller),
        )

    def ok(self, caller: LocalAccount, message: TypedMessage) -> dict[str, Any]:
        response = self.post(caller, message)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["tx_hash"].startswith("0x")
        assert body["block_number"] > 0
        return body

    def setup(self) -> None:
        """Enrol the vendor and give the three roles, as the consortium admin."""
        admin = self.stack.admin
        self.ok(
            admin,
            VendorChange(
                vendor=self.vendor.address, enrolled=True, nonce=nonce(), deadline=deadline()
            ),
        )
        for role, account in zip(AdministratorRole, self.admins, strict=True):
            self.ok(
                admin,
                AdministratorChange(
                    role=int(role), account=account.address, nonce=nonce(), deadline=deadline()
                ),
            )

    def upload(self, document: dict[str, Any], caller: LocalAccount | None = None) -> Any:
        return self.stack.client.post(
            "/marketplace/manifests",
            json=document,
            headers=self.stack.login(caller or self.vendor),
        )

    def submission(
        self, version: int, *, uri: str, digest: bytes, app_id: bytes = APP_ID
    ) -> AppSubmission:
        return AppSubmission(
            app_id=app_id,
            version=version,
            manifest_digest=digest,
            manifest_uri=uri,
            nonce=nonce(),
            deadline=deadline(),
        )

    def vote(
        self, version: int, approve: bool = True, reason: str = "", app_id: bytes = APP_ID
    ) -> AppVote:
        return AppVote(
            app_id=app_id,
            version=version,
            approve=approve,
            reason=reason,
            nonce=nonce(),
            deadline=deadline(),
        )

    def install(self, institution: int, app_id: bytes = APP_ID) -> AppInstallation:
        return AppInstallation(
            institution_id=institution,
            app_id=app_id,
            install=True,
            nonce=nonce(),
            deadline=deadline(),
        )

    def rating(self, institution: int, version: int, score: int) -> AppRating:
        return AppRating(
            institution_id=institution,
            app_id=APP_ID,
            version=version,
            score=score,
            nonce=nonce(),
            deadline=deadline(),
        )

    def submit_uploaded(self, version: int = 1) -> dict[str, Any]:
        """Upload the manifest of ``version`` and submit it; the upload's answer."""
        response = self.upload(manifest(version))
        assert response.status_code == 201, response.text
        uploaded: dict[str, Any] = response.json()
        digest = bytes.fromhex(uploaded["digest"][2:])
        self.ok(self.vendor, self.submission(version, uri=uploaded["uri"], digest=digest))
        return uploaded

    def list_version(self, version: int = 1) -> dict[str, Any]:
        uploaded = self.submit_uploaded(version)
        for admin in self.admins:
            self.ok(admin, self.vote(version))
        return uploaded
