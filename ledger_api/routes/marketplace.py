"""The app marketplace (云医疗应用超市, issue 21): listings, an app's page, the review queue,
installed apps, roles, manifest uploads, and signed actions relayed to ``Marketplace``.

Thin: the rules live in :mod:`ledger_api.services.marketplace_queries` (reads, from the
index), :mod:`ledger_api.services.marketplace_manifests` (uploads) and
:mod:`ledger_api.services.marketplace_actions` (relayed writes). Every write is signed by its
actor (EIP-712, domain "MedLedger Marketplace"); the relayer only pays gas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_api.deps import ContextDep, DbDep, OptionalPrincipalDep, PrincipalDep
from ledger_api.http_errors import PayloadTooLargeError, UnprocessableError
from ledger_api.inputs import Offset, uint_query
from ledger_api.marketplace.manifest import MAX_MANIFEST_BYTES, ManifestModel
from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import SignatureField
from ledger_api.services import marketplace_actions as actions
from ledger_api.services import marketplace_manifests as manifests
from ledger_api.services import marketplace_queries as queries

router = APIRouter(tags=["marketplace"])

AppIdPath = Annotated[str, Path(max_length=66, description="0x + 64 hex digits.")]
Status = Literal["live", "in_review", "rejected", "suspended", "retired", "all"]
ActionKind = Literal["submit", "vote", "status", "install", "rate", "vendor", "administrator"]
Text = Annotated[str | None, Query(max_length=200)]


class AppItemOut(BaseModel):
    app_id: str
    name: str | None = Field(
        description="From the manifest; null when it is missing or does "
        "not match the on-chain digest (never trusted then)."
    )
    type: str | None
    vendor: str = Field(description="The vendor's address (the app's on-chain owner).")
    vendor_name: str | None
    version: int = Field(description="The on-chain version number.")
    version_label: str | None = Field(description="The manifest's human version string.")
    date: str | None
    status: str
    manifest_state: Literal["ok", "mismatch", "missing"]
    rating_avg: float | None
    rating_count: int
    install_count: int
    description: str | None
    submitted_at: int | None


class AppPageOut(BaseModel):
    items: list[AppItemOut]
    total: int


class VoteOut(BaseModel):
    role: int
    role_name: str
    account: str
    approve: bool
    reason: str
    time: int | None
    tx_hash: str
    block_number: int


class VersionOut(BaseModel):
    version: int
    version_label: str | None
    status: str
    reason: str | None
    name: str | None
    manifest: dict[str, Any] | None = Field(
        description="The manifest document, only when its digest equals the on-chain one."
    )
    manifest_cid: str | None
    manifest_uri: str
    manifest_state: Literal["ok", "mismatch", "missing"]
    digest: str
    digest_ok: bool | None = Field(description="null: no document uploaded for the URI.")
    submitted_at: int | None
    tx_hash: str
    block_number: int
    votes: list[VoteOut]
    rating_avg: float | None
    rating_count: int


class AppDetailOut(BaseModel):
    app_id: str
    vendor: str
    status: str
    live_version: int | None
    versions: list[VersionOut]
    rating_avg: float | None
    rating_count: int
    install_count: int
    installed_by: list[int]


class QueueItemOut(VersionOut):
    app_id: str
    vendor: str
    type: str | None
    approvals: list[str]
    pending_roles: list[str]


class QueueOut(BaseModel):
    items: list[QueueItemOut]
    total: int


class InstalledVersionOut(BaseModel):
    version: int
    version_label: str | None
    status: str


class InstalledAppOut(BaseModel):
    app_id: str
    name: str | None
    type: str | None
    installed_version: int | None
    live_version: int | None
    launchable: bool
    status: str | None
    installed_at: int | None
    tx_hash: str
    block_number: int
    versions: list[InstalledVersionOut]


class InstitutionAppsOut(BaseModel):
    institution_id: int
    items: list[InstalledAppOut]
    total: int


class AdministratorsOut(BaseModel):
    platform_provider: str | None
    regulator: str | None
    consortium_authority: str | None


class VendorOut(BaseModel):
    address: str
    since_block: int
    tx_hash: str


class MeOut(BaseModel):
    address: str
    is_vendor: bool
    admin_role: str | None
    is_consortium_admin: bool
    institution_id: int | None
    is_institution_admin: bool


class RolesOut(BaseModel):
    administrators: AdministratorsOut
    vendors: list[VendorOut]
    me: MeOut | None = Field(description="The signed-in caller's roles (null when anonymous).")


class ManifestOut(BaseModel):
    cid: str
    uri: str = Field(description="ipfs://<cid>: the manifestUri to sign in the AppSubmission.")
    digest: str = Field(description="SHA-256 of the canonical JSON: the manifestDigest to sign.")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: dict[str, Any] = Field(
        description="The EIP-712 message as eth_signTypedData_v4 takes it (camelCase members; "
        "bytes32 as 0x hex; integers as numbers or decimal strings), of the type named by "
        "the action: AppSubmission, AppVote, AppStatusChange, AppInstallation, AppRating, "
        "VendorChange, AdministratorChange (domain 'MedLedger Marketplace')."
    )
    signature: SignatureField


class ActionOut(BaseModel):
    kind: str
    tx_hash: str
    block_number: int


@router.get(
    "/marketplace/apps",
    summary="Browse and search the marketplace's apps",
    responses=error_responses(s422="invalid_request"),
)
def list_apps(
    db: DbDep,
    q: Text = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    vendor: Text = None,
    min_rating: Annotated[float | None, Query(ge=0, le=5)] = None,
    status: Status = "live",
    offset: Offset = 0,
    limit: uint_query(ge=1, le=200) = 50,
) -> AppPageOut:
    """One item per app (its newest version in ``status``; ``all``: its newest version);
    ``q`` searches name, description and vendor name; ``vendor`` is an address or a name."""
    page = queries.list_apps(
        db=db,
        q=q,
        app_type=type,
        vendor=vendor,
        min_rating=min_rating,
        status=status,
        limit=limit,
        offset=offset,
    )
    return AppPageOut.model_validate(page)


@router.get(
    "/marketplace/apps/{app_id}",
    summary="An app's page: versions, manifests, votes with their transactions, ratings",
    responses=error_responses(s404="app_not_found", s422="invalid_app_id"),
)
def app_detail(app_id: AppIdPath, db: DbDep) -> AppDetailOut:
    return AppDetailOut.model_validate(queries.app_detail(db=db, app_id=app_id))


@router.get(
    "/marketplace/review-queue",
    summary="Versions In Review with the votes cast so far",
)
def review_queue(db: DbDep) -> QueueOut:
    return QueueOut.model_validate(queries.review_queue(db=db))


@router.get(
    "/marketplace/institutions/{institution_id}/apps",
    summary="The apps an institution has installed",
    responses=error_responses(s422="invalid_request"),
)
def institution_apps(
    institution_id: Annotated[int, Path(ge=1, le=2**32 - 1)], db: DbDep
) -> InstitutionAppsOut:
    return InstitutionAppsOut.model_validate(
        queries.institution_apps(db=db, institution_id=institution_id)
    )


@router.get(
    "/marketplace/roles",
    summary="The administrator roles, the vendors, and the caller's own roles",
    responses=error_responses(s503="chain_unavailable"),
)
def roles(ctx: ContextDep, db: DbDep, principal: OptionalPrincipalDep) -> RolesOut:
    return RolesOut.model_validate(queries.roles(ctx=ctx, db=db, principal=principal))


@router.get(
    "/marketplace/manifest-schema",
    summary="The JSON Schema a manifest must follow",
)
def manifest_schema() -> dict[str, Any]:
    return ManifestModel.model_json_schema(by_alias=True)


@router.post(
    "/marketplace/manifests",
    summary="Upload an app version's manifest (an enrolled vendor)",
    status_code=201,
    responses=error_responses(
        s403="not_vendor",
        s413="manifest_too_large",
        s422="invalid_manifest, unknown_scope, invalid_request",
        s503="chain_unavailable",
    ),
)
def upload_manifest(
    request: Request,
    ctx: ContextDep,
    db: DbDep,
    principal: PrincipalDep,
    document: Annotated[
        dict[str, Any],
        Body(
            description=f"The manifest (JSON, at most {MAX_MANIFEST_BYTES} bytes): see "
            "GET /marketplace/manifest-schema. Stored as canonical JSON (sorted keys, no "
            "spaces); its SHA-256 is the digest to sign."
        ),
    ],
) -> ManifestOut:
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > MAX_MANIFEST_BYTES:
        raise PayloadTooLargeError(
            f"a manifest is at most {MAX_MANIFEST_BYTES} bytes",
            code="manifest_too_large",
            details={"max_bytes": MAX_MANIFEST_BYTES, "bytes": int(length)},
        )
    raw = manifests.canonical_bytes(document)
    return ManifestOut.model_validate(
        manifests.upload_manifest(ctx=ctx, db=db, principal=principal, raw=raw)
    )


@router.get(
    "/marketplace/manifests/{cid}",
    summary="A stored manifest, as canonical JSON",
    responses=error_responses(s404="manifest_not_found", s422="invalid_cid"),
)
def get_manifest(cid: Annotated[str, Path(max_length=128)], ctx: ContextDep, db: DbDep) -> Response:
    data = manifests.manifest_bytes(ctx=ctx, db=db, cid=cid)
    return Response(content=data, media_type="application/json")


@router.post(
    "/marketplace/actions/{kind}",
    summary="Relay a signed marketplace action to the Marketplace contract",
    responses=error_responses(
        s403="signer_mismatch, MarketplaceUnauthorized, MarketplaceNotVendor, "
        "MarketplaceNotAppVendor",
        s409="MarketplaceNonceUsed, MarketplaceAlreadyVoted, MarketplaceInvalidTransition, "
        "MarketplaceNotInstalled, MarketplaceAlreadyInstalled, MarketplaceAlreadyRated, "
        "MarketplaceVersionNotNewer, MarketplaceNotLive, MarketplaceNotListed, ...",
        s422="invalid_message, invalid_signature, signature_expired, deadline_too_far, "
        "MarketplaceInvalidScore, MarketplaceMissingReason, MarketplaceInvalidInstitution, ...",
        s503="chain_unavailable, chain_rejected",
    ),
)
def relay_action(
    kind: ActionKind, body: ActionIn, ctx: ContextDep, db: DbDep, principal: PrincipalDep
) -> ActionOut:
    """The signer must be the signed-in caller; answers once the transaction is mined, with
    its events already in the index."""
    if len(body.message) > 16:
        raise UnprocessableError("message has too many members", code="invalid_message")
    result = actions.relay_action(
        ctx=ctx,
        db=db,
        principal=principal,
        kind=kind,
        message=body.message,
        signature=body.signature,
    )
    return ActionOut.model_validate(result)
