"""The app marketplace's signed actions (``contracts/src/Marketplace.sol``).

Signed in the domain "MedLedger Marketplace". Unlike the workflow steps, several of these
actions can be repeated (install, uninstall, install again; enrol and remove a vendor), so
every message carries a ``nonce`` the contract accepts once per signer (unordered: a client
picks any unused value, e.g. random 64 bits or a timestamp in nanoseconds) and a
``deadline``.

- :class:`VendorChange` and :class:`AdministratorChange` by the consortium admin;
- :class:`AppSubmission` by a vendor (``manifest_digest`` is :func:`manifest_digest` of the
  app's manifest JSON, ``manifest_uri`` where it is stored);
- :class:`AppVote` by the holder of an administrator role (:class:`AdministratorRole`);
- :class:`AppStatusChange` (:class:`StatusAction`): suspend / reinstate by an administrator
  or the consortium admin, retire by the vendor;
- :class:`AppInstallation` and :class:`AppRating` by an institution's admin;
- :class:`AppAuthorization` by a user (a clinician at an institution that installed the app,
  or a patient for themselves) letting an app reach a patient's records, with
  :func:`client_id_hash` and :func:`scope_hash`; :class:`AppRevocation` by the patient.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from eth_utils import keccak

from crypto.signing.core import TypedMessage, eip712

CONTRACT = "Marketplace"


class AdministratorRole(IntEnum):
    """The three roles whose approvals list an app; the numbers are the contract's."""

    PLATFORM_PROVIDER = 1
    REGULATOR = 2
    CONSORTIUM_AUTHORITY = 3


class StatusAction(IntEnum):
    """``AppStatusChange.action``; the numbers are the contract's."""

    SUSPEND = 1
    REINSTATE = 2
    RETIRE = 3


def manifest_digest(manifest: dict[str, Any]) -> bytes:
    """SHA-256 of the manifest as canonical JSON (sorted keys, no spaces, UTF-8): the
    ``manifestDigest`` a submission carries, so anyone can check the document a listing was
    approved for."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).digest()


def client_id_hash(client_id: str) -> bytes:
    """keccak-256 of the OAuth client id's UTF-8 bytes: the ``clientId`` of
    :class:`AppAuthorization` and of ``AppReadRequest`` (the chain keeps no client id in
    clear)."""
    if not client_id:
        raise ValueError("an OAuth client id is not empty")
    return keccak(client_id.encode("utf-8"))


def scope_hash(scopes: Iterable[str]) -> bytes:
    """keccak-256 of the granted scopes' UTF-8 bytes, sorted (code point order) and joined by
    single spaces, each scope once: the ``scopeHash`` of :class:`AppAuthorization`, so the
    same grant hashes the same whatever order the consent screen listed it in."""
    unique = sorted(set(scopes))
    if any(not s or " " in s for s in unique):
        raise ValueError("a scope is a non-empty token without spaces")
    return keccak(" ".join(unique).encode("utf-8"))


@dataclass(frozen=True, kw_only=True)
class VendorChange(TypedMessage):
    """Enrol (``enrolled=True``) or remove a vendor."""

    CONTRACT: ClassVar[str] = CONTRACT

    vendor: str = eip712("address")
    enrolled: bool = eip712("bool")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AdministratorChange(TypedMessage):
    """Give administrator role ``role`` to ``account`` (the zero address vacates it)."""

    CONTRACT: ClassVar[str] = CONTRACT

    role: int = eip712("uint8")
    account: str = eip712("address")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AppSubmission(TypedMessage):
    """Submit version ``version`` (a number above every earlier one) of app ``app_id``."""

    CONTRACT: ClassVar[str] = CONTRACT

    app_id: bytes = eip712("bytes32")
    version: int = eip712("uint32")
    manifest_digest: bytes = eip712("bytes32")
    manifest_uri: str = eip712("string")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AppVote(TypedMessage):
    """Approve, or reject with a reason, a version in review."""

    CONTRACT: ClassVar[str] = CONTRACT

    app_id: bytes = eip712("bytes32")
    version: int = eip712("uint32")
    approve: bool = eip712("bool")
    reason: str = eip712("string", "")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AppStatusChange(TypedMessage):
    """Suspend (with a reason), reinstate or retire a version; see :class:`StatusAction`."""

    CONTRACT: ClassVar[str] = CONTRACT

    app_id: bytes = eip712("bytes32")
    version: int = eip712("uint32")
    action: StatusAction = eip712("uint8")  # noqa: RUF009 - eip712() is a dataclasses.field
    reason: str = eip712("string", "")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AppInstallation(TypedMessage):
    """Install (``install=True``) or uninstall an app at an institution."""

    CONTRACT: ClassVar[str] = CONTRACT

    institution_id: int = eip712("uint32")
    app_id: bytes = eip712("bytes32")
    install: bool = eip712("bool")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AppRating(TypedMessage):
    """An institution's rating (1 to 5) of a listed version it has installed."""

    CONTRACT: ClassVar[str] = CONTRACT

    institution_id: int = eip712("uint32")
    app_id: bytes = eip712("bytes32")
    version: int = eip712("uint32")
    score: int = eip712("uint8")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AppAuthorization(TypedMessage):
    """``user`` lets app ``app_id`` (OAuth client :func:`client_id_hash`) reach ``patient``'s
    records with the scopes :func:`scope_hash` hashes (keccak-256 of the sorted scopes joined
    by single spaces). Signed by ``user``; a user outside every institution signs only for
    themselves, and after the patient's :class:`AppRevocation` only the patient can."""

    CONTRACT: ClassVar[str] = CONTRACT

    user: str = eip712("address")
    patient: str = eip712("address")
    app_id: bytes = eip712("bytes32")
    client_id: bytes = eip712("bytes32")
    scope_hash: bytes = eip712("bytes32")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AppRevocation(TypedMessage):
    """``patient`` revokes app ``app_id``: from then on only the patient can authorise it."""

    CONTRACT: ClassVar[str] = CONTRACT

    patient: str = eip712("address")
    app_id: bytes = eip712("bytes32")
    nonce: int = eip712("uint256")
    deadline: int = eip712("uint64")


MARKETPLACE_TYPES: tuple[type[TypedMessage], ...] = (
    VendorChange,
    AdministratorChange,
    AppSubmission,
    AppVote,
    AppStatusChange,
    AppInstallation,
    AppRating,
    AppAuthorization,
    AppRevocation,
)
