"""Manifest uploads: an enrolled vendor's document, validated, stored, attached.

Why the API stores it: the contract keeps only the manifest's digest and URI, and the
administrators must be able to read the document they approve. ``POST`` validates it
(:mod:`ledger_api.marketplace.manifest`), stores its canonical JSON in the block store (the
CID is content-derived, so ``ipfs://<cid>`` cannot later name another document), remembers it
in ``marketplace_manifests`` and attaches it to any already-indexed version that names the CID
(only where the digests match). Only enrolled vendors (``Marketplace.isVendor``) may upload:
the store is not a free file host.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ledger_api.http_errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    UnprocessableError,
)
from ledger_api.indexer.marketplace import attach_manifest, manifest_cid
from ledger_api.marketplace import manifest as schema
from ledger_api.marketplace.errors import ManifestInvalidError
from ledger_api.services.access import chain_required
from storage.errors import StorageError
from storage.models.marketplace import MarketplaceManifest
from storage.models.types import to_bytes32

if TYPE_CHECKING:
    from ledger_api.context import AppContext
    from ledger_api.principal import Principal

MAX_MANIFEST_BYTES = schema.MAX_MANIFEST_BYTES


def parse_document(raw: bytes) -> dict[str, Any]:
    """The uploaded JSON object, size-checked and validated (413 / 400 / 422)."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise PayloadTooLargeError(
            f"a manifest is at most {MAX_MANIFEST_BYTES} bytes",
            code="manifest_too_large",
            details={"max_bytes": MAX_MANIFEST_BYTES, "bytes": len(raw)},
        )
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"the manifest is not JSON: {exc}", code="invalid_json") from None
    try:
        return schema.validate(document)
    except ManifestInvalidError as exc:
        raise UnprocessableError(
            str(exc), code=exc.code, details={"field": exc.field, "errors": exc.errors}
        ) from None


def canonical_bytes(document: Any) -> bytes:
    """The canonical JSON of a body FastAPI parsed (its size is what the limit counts when
    the request had no ``Content-Length``)."""
    if not isinstance(document, dict):
        raise UnprocessableError("the manifest must be a JSON object", code="invalid_manifest")
    return schema.canonical(document)


def upload_manifest(
    *, ctx: AppContext, db: Session, principal: Principal, raw: bytes
) -> dict[str, str]:
    """Store a vendor's manifest; ``{cid, uri, digest}`` (the digest to sign and submit)."""
    with chain_required("cannot check the vendor on Marketplace"):
        is_vendor = ctx.chain.marketplace.is_vendor(principal.address)
    if not is_vendor:
        raise ForbiddenError(
            f"{principal.address} is not an enrolled vendor (Marketplace.isVendor)",
            code="not_vendor",
        )
    document = parse_document(raw)
    canonical = schema.canonical(document)
    digest = "0x" + schema.digest(document).hex()
    try:
        cid = str(ctx.store.put(canonical, pin=True))
    except StorageError as exc:
        raise UnprocessableError(f"cannot store the manifest: {exc}", code="store_failed") from exc
    if db.get(MarketplaceManifest, cid) is None:
        db.add(
            MarketplaceManifest(
                cid=cid,
                digest=digest,
                document=canonical.decode("utf-8"),
                uploader=principal.address,
            )
        )
        db.flush()
    attach_manifest(
        db.connection(), cid=cid, digest=to_bytes32(digest), document=canonical.decode()
    )
    return {"cid": cid, "uri": f"ipfs://{cid}", "digest": digest}


def manifest_bytes(*, ctx: AppContext, db: Session, cid: str) -> bytes:
    """The stored canonical manifest ``cid`` (404 when this API never accepted it)."""
    if manifest_cid(cid) != cid:
        raise UnprocessableError(f"not a CID: {cid[:80]!r}", code="invalid_cid")
    if db.get(MarketplaceManifest, cid) is None:
        raise NotFoundError(f"no manifest {cid}", code="manifest_not_found")
    try:
        return b"".join(ctx.store.get(cid))
    except StorageError as exc:
        raise NotFoundError(
            f"manifest {cid} is not in the store: {exc}", code="manifest_not_found"
        ) from exc
