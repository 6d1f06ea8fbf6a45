"""An app version's manifest: its schema, canonical form and digest.

The contract stores only ``manifestDigest`` = SHA-256 of the manifest as canonical JSON
(:func:`crypto.signing.manifest_digest`: sorted keys, no spaces, UTF-8) and a URI; the
document itself is uploaded here, validated, and kept in the block store as that canonical
JSON, under ``ipfs://<cid>``. The launch server (``ledger_api.smart.manifest`` on the
``mkt-smart`` branch) reads the same fields: ``client_type`` (``public`` or
``confidential-symmetric``), ``redirect_urls``, ``launch_url``, ``scopes``.

Validation is strict (unknown fields refused) because administrators approve exactly this
document: a field the pages do not show could carry anything.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from crypto.signing import manifest_digest
from ledger_api.marketplace.errors import ManifestInvalidError
from ledger_api.marketplace.scopes import check_scope

MAX_MANIFEST_BYTES = 64 * 1024
_UNKNOWN_SCOPE = "unknown SMART scope"


def _url(value: str) -> str:
    """An absolute http(s) URL with a host and no fragment (OAuth 2 redirect rules)."""
    if any(c.isspace() for c in value):
        raise ValueError("a URL has no whitespace")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an absolute http(s) URL")
    if not parts.hostname:
        raise ValueError("must be an absolute URL with a host")
    if parts.fragment:
        raise ValueError("must not have a fragment")
    return value


def _date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date YYYY-MM-DD") from None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


def _scope(value: str) -> str:
    try:
        return check_scope(value)
    except ValueError as exc:
        raise ValueError(f"{_UNKNOWN_SCOPE}: {exc}") from None


Url = Annotated[str, Field(min_length=8, max_length=2048), AfterValidator(_url)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class ScopeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    scope: Annotated[str, Field(min_length=1, max_length=300), AfterValidator(_scope)]
    justification: Annotated[str, Field(min_length=1, max_length=1000)]


class LocalisedText(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Text | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None


class I18n(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    zh_cn: LocalisedText | None = Field(default=None, alias="zh-CN")
    en: LocalisedText | None = None


class ManifestModel(BaseModel):
    """The manifest schema (``GET /openapi.json`` shows it as ``ManifestModel``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Text
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")] = Field(
        description="The app's category, e.g. clinical-visualisation, decision-support."
    )
    description: Annotated[str, Field(min_length=1, max_length=4000)]
    vendor: Text
    version: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The human version label (the on-chain version is a number)."
    )
    date: Annotated[str, AfterValidator(_date)]
    smart_version: Annotated[str, Field(pattern=r"^[12]\.\d{1,3}(\.\d{1,3})?$")]
    client_type: Literal["public", "confidential-symmetric"]
    redirect_urls: Annotated[list[Url], Field(min_length=1, max_length=10)]
    launch_url: Url | None = None
    scopes: Annotated[list[ScopeEntry], Field(min_length=1, max_length=64)]
    package_digest: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
    i18n: I18n | None = None


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "manifest"


def validate(document: Any) -> dict[str, Any]:
    """``document`` if it follows :class:`ManifestModel`; :class:`ManifestInvalidError`
    naming the first failing field otherwise (``unknown_scope`` for a scope)."""
    if not isinstance(document, dict):
        raise ManifestInvalidError(
            "the manifest must be a JSON object",
            code="invalid_manifest",
            field="manifest",
            errors=[],
        )
    try:
        ManifestModel.model_validate(document)
    except ValidationError as exc:
        errors = [
            {"field": _where(tuple(e["loc"])), "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        scope_errors = [e for e in errors if _UNKNOWN_SCOPE in e["message"]]
        first = scope_errors[0] if scope_errors else errors[0]
        raise ManifestInvalidError(
            f"manifest field {first['field']}: {first['message']}",
            code="unknown_scope" if scope_errors else "invalid_manifest",
            field=first["field"],
            errors=errors[:20],
        ) from None
    return document


def canonical(document: dict[str, Any]) -> bytes:
    """The canonical JSON :func:`crypto.signing.manifest_digest` hashes."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def digest(document: dict[str, Any]) -> bytes:
    return manifest_digest(document)
