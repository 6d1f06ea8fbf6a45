"""An app version's manifest: where it lives and how the server trusts it.

The contract stores a version's ``manifestDigest`` (SHA-256 of the manifest as canonical JSON,
:func:`crypto.signing.manifest_digest`) and its ``manifestUri``; the three administrators
approved *that digest*. The document itself lives in the block store under the URI
``ipfs://<cid>`` (a bare CID is accepted too): the server fetches it, re-hashes the canonical
form and refuses a document whose digest differs, so neither the store nor whoever uploaded it
can widen what an app may ask for. Verified manifests are cached by digest (content-addressed,
so a cache entry can never be stale).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from crypto.signing import manifest_digest
from ledger_api.chain.marketplace import AppStatus, Marketplace, VersionInfo
from ledger_api.smart import scopes as sc
from ledger_api.smart.errors import ManifestError, ScopeSyntaxError
from storage.blocks import BlockStore
from storage.errors import StorageError

MAX_MANIFEST_BYTES = 64 * 1024
CLIENT_TYPES = {"public": "none", "confidential-symmetric": "client_secret_basic"}


@dataclass(frozen=True)
class Manifest:
    """The parts of a manifest the authorisation server acts on."""

    app_id: bytes
    version: int
    status: AppStatus
    name: str
    client_type: str
    redirect_urls: tuple[str, ...]
    launch_url: str | None
    scopes: tuple[sc.Scope, ...]
    document: dict[str, Any]

    @property
    def auth_method(self) -> str:
        return CLIENT_TYPES[self.client_type]


_cache: dict[bytes, dict[str, Any]] = {}
_cache_lock = threading.Lock()


def manifest_cid(uri: str) -> str:
    cid = uri.removeprefix("ipfs://").strip("/")
    if not cid or "/" in cid:
        raise ManifestError(f"the manifest URI {uri!r} is not ipfs://<cid>")
    return cid


def fetch_document(store: BlockStore, info: VersionInfo) -> dict[str, Any]:
    """The manifest document of ``info``, checked against its on-chain digest."""
    with _cache_lock:
        cached = _cache.get(info.manifest_digest)
    if cached is not None:
        return cached
    data = bytearray()
    try:
        for chunk in store.get(manifest_cid(info.manifest_uri)):
            data += chunk
            if len(data) > MAX_MANIFEST_BYTES:
                raise ManifestError(f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    except StorageError as exc:
        raise ManifestError(f"the manifest {info.manifest_uri} cannot be read: {exc}") from exc
    try:
        document = json.loads(bytes(data))
    except ValueError as exc:
        raise ManifestError("the manifest is not JSON") from exc
    if not isinstance(document, dict):
        raise ManifestError("the manifest is not a JSON object")
    if manifest_digest(document) != info.manifest_digest:
        raise ManifestError("the manifest does not match the digest the administrators approved")
    with _cache_lock:
        _cache[info.manifest_digest] = document
    return document


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ManifestError(f"the manifest's {what} must be a list of strings")
    return tuple(value)


def parse(app_id: bytes, version: int, info: VersionInfo, document: dict[str, Any]) -> Manifest:
    """Read the fields the server uses; an unknown scope raises :class:`ScopeSyntaxError`."""
    client_type = document.get("client_type")
    if client_type not in CLIENT_TYPES:
        raise ManifestError(f"client_type must be one of {sorted(CLIENT_TYPES)}")
    entries = document.get("scopes")
    if not isinstance(entries, list) or not entries:
        raise ManifestError("the manifest declares no scopes")
    declared = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("scope"), str):
            raise ManifestError("each manifest scope is {scope, justification}")
        declared.append(sc.parse(entry["scope"]))  # ScopeSyntaxError: refused by the caller
    launch_url = document.get("launch_url")
    return Manifest(
        app_id=app_id,
        version=version,
        status=info.status,
        name=str(document.get("name") or "")[:200],
        client_type=client_type,
        redirect_urls=_strings(document.get("redirect_urls"), "redirect_urls"),
        launch_url=launch_url if isinstance(launch_url, str) else None,
        scopes=tuple(dict.fromkeys(declared)),
        document=document,
    )


def load(market: Marketplace, store: BlockStore, app_id: bytes, version: int) -> Manifest:
    """Version ``version`` of ``app_id`` with its verified manifest (any status: callers check
    :attr:`Manifest.status`)."""
    info = market.version_of(app_id, version)
    return parse(app_id, version, info, fetch_document(store, info))


__all__ = ["Manifest", "ManifestError", "ScopeSyntaxError", "load", "manifest_cid"]
