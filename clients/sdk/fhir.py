"""FHIR validation before a record is encrypted: a malformed resource never leaves the machine.

The consortium exchanges FHIR R4 JSON. ``fhir.resources`` 8 models FHIR R5 by default; its
``R4B`` subpackage (FHIR 4.3.0) is the closest release to R4 it ships — R4B only added
resources and relaxed a few constraints, so an R4 document that validates as R4B is what the
receiving hospital systems expect. We validate against R4B for that reason and say so here.

Single resources and ``Bundle`` documents are accepted (a Bundle's entries are validated as
part of it). The validator's own message goes into :class:`FhirValidationError`: it names the
field and the rule, which is what the person fixing the document needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clients.sdk.errors import FhirValidationError
from clients.sdk.fhir_index import clinical_date, summary

FHIR_CONTENT_TYPE = "application/fhir+json"
FHIR_VERSION = "4.3.0 (R4B)"


@dataclass(frozen=True)
class FhirDocument:
    """A validated resource: its type (the record type on chain), the bytes to encrypt and
    its clinical date (the index entry, :func:`clients.sdk.fhir_index.clinical_date`)."""

    resource_type: str
    data: bytes
    record_date: str | None = None


def load_resource(resource: dict[str, Any] | str | bytes | Path) -> tuple[dict[str, Any], bytes]:
    """The resource as a dict and as the bytes to store (the original text when given one).

    A ``str`` that starts with ``{`` or ``[`` is JSON text; any other ``str`` is a path."""
    if isinstance(resource, dict):
        return resource, json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
    if isinstance(resource, Path) or (
        isinstance(resource, str) and not resource.lstrip().startswith(("{", "["))
    ):
        try:
            raw = Path(resource).read_bytes()
        except OSError as exc:
            raise FhirValidationError(f"cannot read {resource}: {exc.strerror}") from None
    else:
        raw = resource.encode("utf-8") if isinstance(resource, str) else bytes(resource)
    try:
        parsed = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FhirValidationError(f"not FHIR JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise FhirValidationError("not a FHIR resource: the JSON is not an object")
    return parsed, raw


def validate_resource(resource: dict[str, Any] | str | bytes | Path) -> FhirDocument:
    """Validate as FHIR R4B; :class:`FhirValidationError` with the validator's message."""
    from fhir.resources.R4B import get_fhir_model_class  # ~0.2 s import: only when used

    parsed, raw = load_resource(resource)
    resource_type = parsed.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise FhirValidationError("not a FHIR resource: 'resourceType' is missing")
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        raise FhirValidationError(
            f"unknown FHIR resource type {resource_type!r} (FHIR {FHIR_VERSION})"
        ) from None
    try:
        model.model_validate(parsed)
    except ValidationError as exc:
        raise FhirValidationError(f"invalid FHIR {resource_type}: {_one_paragraph(exc)}") from None
    except (ValueError, TypeError) as exc:  # fhir_core raises plain errors for some checks
        raise FhirValidationError(f"invalid FHIR {resource_type}: {exc}") from None
    return FhirDocument(resource_type=resource_type, data=raw, record_date=clinical_date(parsed))


def _one_paragraph(exc: ValidationError) -> str:
    """The validator's errors as ``field: message; …`` (pydantic's text spans many lines)."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error.get("loc", ())) or "(resource)"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or str(exc)


def is_fhir_file(path: Path, forced: bool | None) -> bool:
    """Whether to share the file as FHIR: as told (``--fhir/--raw``), else a ``.json`` file
    whose top level has a ``resourceType`` (the validator then has the last word)."""
    if forced is not None:
        return forced
    if path.suffix.lower() != ".json":
        return False
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(parsed, dict) and "resourceType" in parsed


def plaintext_summary(plaintext: bytes, content_type: str) -> str:
    """A decrypted record's one line for a timeline: FHIR JSON → its clinical summary; anything
    else → what it is and how large (so the SDK's and the command line's timelines agree)."""
    if content_type == FHIR_CONTENT_TYPE or plaintext.lstrip()[:1] == b"{":
        try:
            parsed = json.loads(plaintext)
        except (json.JSONDecodeError, UnicodeDecodeError):
            parsed = None
        if isinstance(parsed, dict) and "resourceType" in parsed:
            return summary(parsed)
    return f"{content_type or 'application/octet-stream'}, {len(plaintext)} bytes"
