"""Helpers for the Marketplace tests: a world with vendors and the three administrators, and
signed calls carried by the relayer (or anyone else) with one line each."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from eth_account import Account
from eth_utils import keccak

from crypto.signing import (
    AdministratorChange,
    AdministratorRole,
    AppAuthorization,
    AppInstallation,
    AppRating,
    AppRevocation,
    AppStatusChange,
    AppSubmission,
    AppVote,
    StatusAction,
    TypedMessage,
    VendorChange,
    client_id_hash,
    manifest_digest,
    scope_hash,
)
from tests.contracts.helpers import FAR, Chain, args

APP = keccak(text="app:bp-chart")
OTHER_APP = keccak(text="app:gp-assistant")
ROLES = {
    "provider": AdministratorRole.PLATFORM_PROVIDER,
    "regulator": AdministratorRole.REGULATOR,
    "authority": AdministratorRole.CONSORTIUM_AUTHORITY,
}
FUNCTIONS = {
    VendorChange: "setVendor",
    AdministratorChange: "setAdministrator",
    AppSubmission: "submitApp",
    AppVote: "vote",
    AppStatusChange: "changeStatus",
    AppInstallation: "setInstallation",
    AppRating: "rate",
    AppAuthorization: "authorizeApp",
    AppRevocation: "revokeApp",
}
CLIENT_ID = "bp-chart"
SCOPES = ("launch/patient", "patient/Observation.rs", "openid", "fhirUser")
(NONE, IN_REVIEW, LIVE, REJECTED, SUSPENDED, RETIRED) = range(6)
INST_A, INST_B = 1, 2

_nonces: Iterator[int] = itertools.count(1)


def nonce() -> int:
    return next(_nonces)


def manifest(version: int, app: str = "bp-chart") -> dict[str, Any]:
    """A realistic manifest (what the contract stores is its digest)."""
    return {
        "name": "血压趋势图 BP chart",
        "type": "clinical-visualisation",
        "description": "Plots a patient's blood-pressure Observations over time.",
        "vendor": "Chengdu Health Apps",
        "version": f"1.{version}.0",
        "date": "2026-12-07",
        "smart_version": "2.2.0",
        "client_type": "public",
        "redirect_urls": [f"https://apps.example.cn/{app}/callback"],
        "launch_url": f"https://apps.example.cn/{app}/launch",
        "scopes": [
            {"scope": "launch/patient", "justification": "opens on the patient in context"},
            {"scope": "patient/Observation.rs", "justification": "reads blood pressures"},
        ],
        "package_digest": "sha256:" + keccak(text=f"{app}-{version}").hex(),
    }


def submission(version: int, app_id: bytes = APP, **changes: Any) -> AppSubmission:
    fields: dict[str, Any] = {
        "app_id": app_id,
        "version": version,
        "manifest_digest": manifest_digest(manifest(version)),
        "manifest_uri": f"ipfs://bafkrei-manifest-{version}",
        "nonce": nonce(),
        "deadline": FAR,
    }
    fields.update(changes)
    return AppSubmission(**fields)


def vote(version: int, approve: bool = True, reason: str = "", app_id: bytes = APP) -> AppVote:
    return AppVote(
        app_id=app_id,
        version=version,
        approve=approve,
        reason=reason,
        nonce=nonce(),
        deadline=FAR,
    )


def status(version: int, action: StatusAction, reason: str = "") -> AppStatusChange:
    return AppStatusChange(
        app_id=APP, version=version, action=action, reason=reason, nonce=nonce(), deadline=FAR
    )


def installation(inst: int, install: bool = True, app_id: bytes = APP) -> AppInstallation:
    return AppInstallation(
        institution_id=inst, app_id=app_id, install=install, nonce=nonce(), deadline=FAR
    )


def rating(inst: int, version: int, score: int) -> AppRating:
    return AppRating(
        institution_id=inst, app_id=APP, version=version, score=score, nonce=nonce(), deadline=FAR
    )


def authorization(
    chain: Chain, user: str, patient: str, app_id: bytes = APP, **changes: Any
) -> AppAuthorization:
    """``user`` lets the app reach ``patient``'s records (account names of the test world)."""
    fields: dict[str, Any] = {
        "user": chain.addr(user),
        "patient": chain.addr(patient),
        "app_id": app_id,
        "client_id": client_id_hash(CLIENT_ID),
        "scope_hash": scope_hash(SCOPES),
        "nonce": nonce(),
        "deadline": FAR,
    }
    fields.update(changes)
    return AppAuthorization(**fields)


def revocation(chain: Chain, patient: str, app_id: bytes = APP, **changes: Any) -> AppRevocation:
    fields: dict[str, Any] = {
        "patient": chain.addr(patient),
        "app_id": app_id,
        "nonce": nonce(),
        "deadline": FAR,
    }
    fields.update(changes)
    return AppRevocation(**fields)


class Market:
    """Signed Marketplace calls on a test chain."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.f = chain.c["Marketplace"].functions

    def call(self, message: TypedMessage, signature: bytes) -> Any:
        return getattr(self.f, FUNCTIONS[type(message)])(args(message), signature)

    def do(self, signer: str, message: TypedMessage, via: str = "relayer") -> Any:
        """``signer`` signs ``message``; ``via`` sends it; must succeed; the receipt."""
        return self.chain.send(via, self.call(message, self.chain.sig(signer, message)))

    def fails(
        self,
        signer: str | None,
        message: TypedMessage,
        error: str,
        via: str = "relayer",
        **expected: Any,
    ) -> None:
        """``signer`` (None: no signature, the sender acts) signs; ``via`` sends; reverts."""
        signature = b"" if signer is None else self.chain.sig(signer, message)
        self.chain.reverts(via, self.call(message, signature), error, **expected)

    def view(self, name: str, *a: Any) -> Any:
        return getattr(self.f, name)(*a).call()

    def status(self, version: int, app_id: bytes = APP) -> int:
        return self.view("versionOf", app_id, version)[0]

    def list_version(self, version: int) -> Any:
        """Submit ``version`` and have all three roles approve it; the last receipt."""
        self.do("vendor", submission(version))
        receipt = None
        for who in ROLES:
            receipt = self.do(who, vote(version))
        return receipt


def setup_market(chain: Chain) -> Market:
    """Vendors ``vendor`` and ``vendor2`` enrolled, the three administrator roles set, all by
    the consortium admin's signatures carried by the relayer."""
    for name in ("vendor", "vendor2", *ROLES):
        chain.accounts[name] = Account.from_key(keccak(text=f"medledger test market {name}"))
    market = Market(chain)
    for vendor in ("vendor", "vendor2"):
        message = VendorChange(
            vendor=chain.addr(vendor), enrolled=True, nonce=nonce(), deadline=FAR
        )
        market.do("admin", message)
    for who, role in ROLES.items():
        message = AdministratorChange(
            role=int(role), account=chain.addr(who), nonce=nonce(), deadline=FAR
        )
        market.do("admin", message)
    return market
