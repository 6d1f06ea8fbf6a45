"""Typed wrapper of ``Marketplace``: the cloud medical app marketplace (云医疗应用超市).

Every write is a message signed by the person acting (:mod:`crypto.signing.marketplace`): the
contract recovers the actor and checks that they are the consortium admin, an enrolled vendor,
the holder of an administrator role, or an institution's admin, so the relayer carrying the
message can change nothing on its own; an empty signature means the sender is the actor.

The builders (:func:`submission`, :func:`approval`, ...) make the messages with a fresh random
nonce (the contract accepts each nonce once per signer, in any order), so a client signs what
they return; the wrapper methods take the signed message, keyword-only, and send it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

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
    VendorChange,
    client_id_hash,
    manifest_digest,
    scope_hash,
)
from ledger_api.chain.contract import (
    PendingTx,
    SignedContract,
    check_address,
    check_bytes32,
    check_uint,
)
from ledger_api.chain.errors import InvalidChainInputError

MAX_SCORE = 5


class AppStatus(IntEnum):
    """``Marketplace.Status``."""

    NONE = 0
    IN_REVIEW = 1
    LIVE = 2
    REJECTED = 3
    SUSPENDED = 4
    RETIRED = 5


@dataclass(frozen=True)
class AppInfo:
    vendor: str
    latest_version: int
    current_version: int  # the listed (Live or Suspended) version, 0 when none
    current_status: AppStatus


@dataclass(frozen=True)
class VersionInfo:
    status: AppStatus
    voted: frozenset[AdministratorRole]
    approved: frozenset[AdministratorRole]
    submitted_at: int
    manifest_digest: bytes
    manifest_uri: str
    rating_count: int
    rating_sum: int

    @property
    def rating_average(self) -> float | None:
        return self.rating_sum / self.rating_count if self.rating_count else None


def new_nonce() -> int:
    """A random 64-bit nonce: unordered nonces need only be unused, not sequential."""
    return secrets.randbits(64)


def _roles(mask: int) -> frozenset[AdministratorRole]:
    return frozenset(r for r in AdministratorRole if mask & (1 << int(r)))


# -- message builders (keyword-only; sign what they return) --------------------------------


def vendor_change(*, vendor: str, enrolled: bool, deadline: int) -> VendorChange:
    return VendorChange(vendor=vendor, enrolled=enrolled, nonce=new_nonce(), deadline=deadline)


def administrator_change(
    *, role: AdministratorRole | int, account: str, deadline: int
) -> AdministratorChange:
    return AdministratorChange(
        role=int(role), account=account, nonce=new_nonce(), deadline=deadline
    )


def submission(
    *,
    app_id: bytes,
    version: int,
    manifest: dict[str, Any],
    manifest_uri: str,
    deadline: int,
) -> AppSubmission:
    """A submission whose digest is :func:`crypto.signing.manifest_digest` of ``manifest``."""
    return AppSubmission(
        app_id=app_id,
        version=version,
        manifest_digest=manifest_digest(manifest),
        manifest_uri=manifest_uri,
        nonce=new_nonce(),
        deadline=deadline,
    )


def approval(*, app_id: bytes, version: int, deadline: int) -> AppVote:
    return AppVote(
        app_id=app_id, version=version, approve=True, nonce=new_nonce(), deadline=deadline
    )


def rejection(*, app_id: bytes, version: int, reason: str, deadline: int) -> AppVote:
    if not reason:
        raise InvalidChainInputError("a rejection needs a reason")
    return AppVote(
        app_id=app_id,
        version=version,
        approve=False,
        reason=reason,
        nonce=new_nonce(),
        deadline=deadline,
    )


def status_change(
    *, app_id: bytes, version: int, action: StatusAction, reason: str = "", deadline: int
) -> AppStatusChange:
    if action == StatusAction.SUSPEND and not reason:
        raise InvalidChainInputError("a suspension needs a reason")
    return AppStatusChange(
        app_id=app_id,
        version=version,
        action=action,
        reason=reason,
        nonce=new_nonce(),
        deadline=deadline,
    )


def installation(
    *, institution_id: int, app_id: bytes, install: bool, deadline: int
) -> AppInstallation:
    return AppInstallation(
        institution_id=institution_id,
        app_id=app_id,
        install=install,
        nonce=new_nonce(),
        deadline=deadline,
    )


def rating(
    *, institution_id: int, app_id: bytes, version: int, score: int, deadline: int
) -> AppRating:
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= MAX_SCORE:
        raise InvalidChainInputError(f"a rating is 1 to {MAX_SCORE}, got {score!r}")
    return AppRating(
        institution_id=institution_id,
        app_id=app_id,
        version=version,
        score=score,
        nonce=new_nonce(),
        deadline=deadline,
    )


def authorization(
    *,
    user: str,
    patient: str,
    app_id: bytes,
    client_id: str,
    scopes: Iterable[str],
    deadline: int,
) -> AppAuthorization:
    """``user``'s authorisation of app ``app_id`` for ``patient``, with the OAuth client id
    and the granted scopes hashed as the contract expects (:func:`client_id_hash`,
    :func:`scope_hash`)."""
    return AppAuthorization(
        user=user,
        patient=patient,
        app_id=app_id,
        client_id=client_id_hash(client_id),
        scope_hash=scope_hash(scopes),
        nonce=new_nonce(),
        deadline=deadline,
    )


def revocation(*, patient: str, app_id: bytes, deadline: int) -> AppRevocation:
    return AppRevocation(patient=patient, app_id=app_id, nonce=new_nonce(), deadline=deadline)


class Marketplace(SignedContract):
    NAME = "Marketplace"

    # -- consortium admin -------------------------------------------------------------------

    def set_vendor(self, *, message: VendorChange, signature: bytes) -> PendingTx:
        """Emits ``VendorEnrolled`` or ``VendorRemoved``."""
        return self._send_signed("setVendor", message, signature)

    def set_administrator(self, *, message: AdministratorChange, signature: bytes) -> PendingTx:
        """Emits ``AdministratorSet``."""
        return self._send_signed("setAdministrator", message, signature)

    # -- vendors and administrators ---------------------------------------------------------

    def submit_app(self, *, message: AppSubmission, signature: bytes) -> PendingTx:
        """Emits ``AppSubmitted`` with the signer as vendor."""
        return self._send_signed("submitApp", message, signature)

    def vote(self, *, message: AppVote, signature: bytes) -> PendingTx:
        """Emits ``VoteCast``, then ``AppRejected``, or ``AppListed`` on the third approval
        (and ``AppRetired`` for the version it replaces)."""
        return self._send_signed("vote", message, signature)

    def change_status(self, *, message: AppStatusChange, signature: bytes) -> PendingTx:
        """Emits ``AppSuspended``, ``AppReinstated`` or ``AppRetired``."""
        return self._send_signed("changeStatus", message, signature)

    # -- institutions -------------------------------------------------------------------------

    def set_installation(self, *, message: AppInstallation, signature: bytes) -> PendingTx:
        """Emits ``AppInstalled`` or ``AppUninstalled``."""
        return self._send_signed("setInstallation", message, signature)

    def rate(self, *, message: AppRating, signature: bytes) -> PendingTx:
        """Emits ``AppRated``."""
        return self._send_signed("rate", message, signature)

    # -- users and patients -------------------------------------------------------------------

    def authorize_app(self, *, message: AppAuthorization, signature: bytes) -> PendingTx:
        """Emits ``AppReconnected`` when the patient re-authorises an app they revoked, then
        ``AppAuthorized``."""
        return self._send_signed("authorizeApp", message, signature)

    def revoke_app(self, *, message: AppRevocation, signature: bytes) -> PendingTx:
        """Emits ``AppRevoked``."""
        return self._send_signed("revokeApp", message, signature)

    # -- views ----------------------------------------------------------------------------

    def is_vendor(self, account: str) -> bool:
        return bool(self._read("isVendor", check_address(account, "account")))

    def administrator(self, role: AdministratorRole | int) -> str:
        return str(self._read("administrator", check_uint(int(role), 8, "role")))

    def administrator_role_of(self, account: str) -> AdministratorRole | None:
        role = int(self._read("administratorRoleOf", check_address(account, "account")))
        return AdministratorRole(role) if role else None

    def app_of(self, app_id: bytes) -> AppInfo:
        vendor, latest, current, status = self._read("appOf", check_bytes32(app_id, "app_id"))
        return AppInfo(
            vendor=vendor,
            latest_version=int(latest),
            current_version=int(current),
            current_status=AppStatus(status),
        )

    def version_of(self, app_id: bytes, version: int) -> VersionInfo:
        status, voted, approvals, submitted_at, digest, uri, count, total = self._read(
            "versionOf", check_bytes32(app_id, "app_id"), check_uint(version, 32, "version")
        )
        return VersionInfo(
            status=AppStatus(status),
            voted=_roles(voted),
            approved=_roles(approvals),
            submitted_at=int(submitted_at),
            manifest_digest=bytes(digest),
            manifest_uri=str(uri),
            rating_count=int(count),
            rating_sum=int(total),
        )

    def live_version_of(self, app_id: bytes) -> int:
        """The app's Live version, 0 when none is Live."""
        return int(self._read("liveVersionOf", check_bytes32(app_id, "app_id")))

    def is_installed(self, institution_id: int, app_id: bytes) -> bool:
        return bool(
            self._read(
                "isInstalled",
                check_uint(institution_id, 32, "institution_id"),
                check_bytes32(app_id, "app_id"),
            )
        )

    def installed_version_of(self, institution_id: int, app_id: bytes) -> int:
        """The version the institution installed (0: not installed)."""
        return int(
            self._read(
                "installedVersionOf",
                check_uint(institution_id, 32, "institution_id"),
                check_bytes32(app_id, "app_id"),
            )
        )

    def is_launchable(self, institution_id: int, app_id: bytes) -> bool:
        """Installed at the institution and Live: what a launch must check."""
        return bool(
            self._read(
                "isLaunchable",
                check_uint(institution_id, 32, "institution_id"),
                check_bytes32(app_id, "app_id"),
            )
        )

    def rating_of(self, app_id: bytes, version: int, institution_id: int) -> int:
        return int(
            self._read(
                "ratingOf",
                check_bytes32(app_id, "app_id"),
                check_uint(version, 32, "version"),
                check_uint(institution_id, 32, "institution_id"),
            )
        )

    def nonce_used(self, signer: str, nonce: int) -> bool:
        return bool(
            self._read("nonceUsed", check_address(signer, "signer"), check_uint(nonce, 256, "n"))
        )

    def app_revoked_at(self, patient: str, app_id: bytes) -> int:
        """When ``patient`` revoked app ``app_id`` (unix seconds; 0 when not revoked)."""
        return int(
            self._read(
                "appRevokedAt", check_address(patient, "patient"), check_bytes32(app_id, "app_id")
            )
        )
