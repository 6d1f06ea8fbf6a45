"""Reading and checking a record upload before anything is written anywhere.

An upload is ``multipart/form-data`` with a JSON ``metadata`` field and two file parts,
``header`` and ``body``. Everything here runs before the block store, the index or the chain
is touched, so a refused upload leaves no trace:

- **size** is counted on the bytes actually received, chunk by chunk, and the read stops at
  the limit (413). ``Content-Length`` is only used to refuse early: a client may omit it or lie;
- **shape**: the header must parse as an envelope header and the body must have exactly the
  segment framing and length that header describes (422); the body's SHA-256 — the digest the
  chain stores — falls out of the same pass;
- **policy**: the header's policy must let ``uid:<patient>`` open the record on its own (DESIGN:
  every policy ORs in the patient's uid), or the patient would be locked out of their own chart;
- **binding**: a new record's envelope must be v2 and name this record id and this patient in
  its authenticated fields (the API checks the clear fields; readers check the author's seal
  inside), so one record's envelope cannot be registered or served as another's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from eth_utils import is_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from crypto.addresses import to_checksum_address
from crypto.envelope import FORMAT_VERSION, Header, HeaderV3, parse_header, validate_body_stream
from crypto.errors import CryptoError
from crypto.policy import policy_hash, satisfies
from crypto.record_dates import check_record_date
from ledger_api.http_errors import (
    PayloadTooLargeError,
    UnprocessableError,
    UnsupportedMediaTypeError,
    brief_errors,
)
from ledger_api.inputs import is_ascii_digits, quote

T = TypeVar("T")

RECORD_TYPE_BYTES = 31  # packed into a bytes32 with at least one trailing zero byte


class RecordMetadata(BaseModel):
    """The on-chain fields the uploader chooses (the rest come from the envelope)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: str = Field(max_length=66)
    patient: str = Field(max_length=42)
    record_type: str = Field(max_length=RECORD_TYPE_BYTES)
    author: str | None = Field(None, max_length=42)
    # clinical date, FHIR date / dateTime (record_dates)
    record_date: str | None = Field(None, max_length=40)
    # the author's EIP-712 RecordRegistration signature and its deadline (unix seconds): a
    # new record needs both; the API checks they sign exactly what was uploaded
    deadline: int | None = Field(None, ge=0, le=2**64 - 1)
    signature: str | None = Field(None, max_length=132)

    @field_validator("record_id")
    @classmethod
    def _record_id(cls, value: str) -> str:
        digits = value[2:] if value[:2].lower() == "0x" else ""
        if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError("record_id must be 0x followed by 64 hex digits (32 bytes)")
        if int(digits, 16) == 0:
            raise ValueError("record_id must not be zero")
        return "0x" + digits.lower()

    @field_validator("patient", "author")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not is_address(value) or int(value, 16) == 0:
            raise ValueError("must be a non-zero 20-byte hex address")
        return to_checksum_address(value)

    @field_validator("record_type")
    @classmethod
    def _record_type(cls, value: str) -> str:
        size = len(value.encode("utf-8"))
        if not value or size > RECORD_TYPE_BYTES:
            raise ValueError(f"record_type must be 1 to {RECORD_TYPE_BYTES} UTF-8 bytes")
        return value

    @field_validator("record_date")
    @classmethod
    def _record_date(cls, value: str | None) -> str | None:
        return None if value is None else check_record_date(value)

    @property
    def record_id_bytes(self) -> bytes:
        return bytes.fromhex(self.record_id[2:])

    @property
    def record_type_bytes32(self) -> bytes:
        return self.record_type.encode("utf-8").ljust(32, b"\0")


def record_type_text(packed: str | bytes) -> str:
    """The record type as text from its packed ``bytes32`` (hex or raw)."""
    raw = bytes.fromhex(packed[2:]) if isinstance(packed, str) else packed
    return raw.rstrip(b"\0").decode("utf-8", errors="replace")


@dataclass
class UploadParts:
    """A received upload: the metadata, the header bytes and the spooled body file."""

    metadata: RecordMetadata
    header_bytes: bytes
    body: IO[bytes]
    files: list[UploadFile]

    async def close(self) -> None:
        for upload in self.files:
            await upload.close()


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed every check, with what registration needs."""

    metadata: RecordMetadata
    header: Header | HeaderV3
    header_bytes: bytes
    body: IO[bytes]
    body_length: int
    body_sha256: bytes
    policy_hash: bytes


async def _counted(request: Request, limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLargeError(
                f"upload larger than the {limit}-byte limit",
                details={"limit": limit},
            )
        yield chunk


async def read_multipart(
    request: Request,
    build: Callable[[FormData, list[UploadFile]], T],
    *,
    usage: str,
    max_upload_bytes: int,
    max_header_bytes: int,
    max_fields: int,
) -> T:
    """Receive a multipart upload with a running byte count (413 at the limit), then ``build``
    the parts from the form; the spooled files are closed if ``build`` refuses them.

    ``usage`` is the 415 answer to any other content type (which route takes which parts)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaTypeError(usage, details={"content_type": quote(content_type)})
    declared = request.headers.get("content-length")
    if declared and is_ascii_digits(declared) and int(declared) > max_upload_bytes:
        raise PayloadTooLargeError(
            f"upload of {declared} bytes is over the {max_upload_bytes}-byte limit",
            details={"limit": max_upload_bytes},
        )
    parser = MultiPartParser(
        request.headers,
        _counted(request, max_upload_bytes),
        max_files=2,
        max_fields=max_fields,
        max_part_size=max(64 * 1024, max_header_bytes),
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UnprocessableError(
            f"malformed multipart upload: {exc.message}", code="invalid_upload"
        ) from exc
    files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    try:
        return build(form, files)
    except BaseException:
        for upload in files:
            await upload.close()
        raise


def read_header_part(header: UploadFile, *, max_header_bytes: int) -> bytes:
    """The header part's bytes, refused (413) past ``max_header_bytes``."""
    header.file.seek(0)
    header_bytes = header.file.read(max_header_bytes + 1)
    if len(header_bytes) > max_header_bytes:
        raise PayloadTooLargeError(
            f"header larger than the {max_header_bytes}-byte limit",
            details={"limit": max_header_bytes, "part": "header"},
        )
    return header_bytes


async def read_upload(
    request: Request, *, max_upload_bytes: int, max_header_bytes: int
) -> UploadParts:
    """Receive the multipart upload with a running byte count; refuse it at the limit."""
    return await read_multipart(
        request,
        lambda form, files: _parts(form, files, max_header_bytes=max_header_bytes),
        usage="POST /records takes multipart/form-data (metadata, header, body)",
        max_upload_bytes=max_upload_bytes,
        max_header_bytes=max_header_bytes,
        max_fields=1,
    )


def _parts(form: Any, files: list[UploadFile], *, max_header_bytes: int) -> UploadParts:
    header = form.get("header")
    body = form.get("body")
    raw_metadata = form.get("metadata")
    if isinstance(raw_metadata, UploadFile):
        raw_metadata = raw_metadata.file.read(64 * 1024).decode("utf-8", errors="replace")
    missing = [
        name
        for name, value in (("metadata", raw_metadata), ("header", header), ("body", body))
        if value is None
    ]
    if missing:
        raise UnprocessableError(
            f"the upload lacks {', '.join(missing)}",
            code="invalid_upload",
            details={"missing": missing},
        )
    if not isinstance(header, UploadFile) or not isinstance(body, UploadFile):
        raise UnprocessableError("header and body must be file parts", code="invalid_upload")
    metadata = parse_metadata(str(raw_metadata))
    header_bytes = read_header_part(header, max_header_bytes=max_header_bytes)
    body.file.seek(0)
    return UploadParts(metadata=metadata, header_bytes=header_bytes, body=body.file, files=files)


def parse_metadata(text: str) -> RecordMetadata:
    try:
        return RecordMetadata.model_validate(json.loads(text))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnprocessableError(f"metadata is not JSON: {exc}", code="invalid_metadata") from exc
    except ValidationError as exc:
        raise UnprocessableError(
            "metadata is invalid",
            code="invalid_metadata",
            details=brief_errors(exc.errors(include_url=False)),
        ) from exc


NEW_RECORD_VERSIONS = (2, FORMAT_VERSION)
"""Envelope versions a new record may use: v3 (per-institution slots and the patient's own
slot, ``docs/key-authorities.md``) and, while clients move over, v2."""


def check_header(
    header_bytes: bytes, *, patient: str, record_id: str, version: int | None = None
) -> tuple[Header | HeaderV3, bytes]:
    """Parse an envelope header, check it is bound to ``record_id`` and ``patient`` and its
    policy admits the patient: (header, policy hash).

    A share and a re-key (header-only or full) must both leave the patient able to open the
    record, so this is the one place that says what "admits the patient" means. ``version`` is
    the envelope version the header must have: None for a new record (any of
    :data:`NEW_RECORD_VERSIONS`), the record's own for a re-key (a v1 record has no author's
    seal to carry over). A v3 header always carries the patient's own slot (its parser refuses
    one without), so its policy need not name the patient."""
    try:
        header = parse_header(header_bytes)
    except CryptoError as exc:
        raise UnprocessableError(
            f"header is not an envelope header: {exc}", code="invalid_header"
        ) from exc
    allowed = NEW_RECORD_VERSIONS if version is None else (version,)
    if header.version not in allowed:
        required = " or ".join(map(str, allowed))
        raise UnprocessableError(
            f"the envelope is version {header.version}; this record needs version {required}"
            + (" (bound to its record and sealed by its author)" if min(allowed) >= 2 else ""),
            code="envelope_version",
            details={"version": header.version, "required": allowed[-1]},
        )
    if header.version >= 2 and (
        header.record_id != bytes.fromhex(record_id[2:])
        or header.patient_address != to_checksum_address(patient)
    ):
        raise UnprocessableError(
            "the envelope is bound to another record or patient"
            f" (0x{(header.record_id or b'').hex()}, {header.patient_address})",
            code="envelope_binding",
            details={"record_id": record_id, "patient": to_checksum_address(patient)},
        )
    patient_uid = f"uid:{patient.lower()}"
    try:
        covered = isinstance(header, HeaderV3) or satisfies(header.policy, [patient_uid])
        digest = policy_hash(header.policy)
    except CryptoError as exc:
        raise UnprocessableError(f"header policy: {exc}", code="invalid_header") from exc
    if not covered:
        raise UnprocessableError(
            f"the record policy must OR in {patient_uid} so the patient can open it",
            code="policy_excludes_patient",
            details={"policy": header.policy, "required": patient_uid},
        )
    return header, digest


def check_upload(
    *,
    metadata: RecordMetadata,
    header_bytes: bytes,
    body: IO[bytes],
    version: int | None = None,
) -> CheckedUpload:
    """Parse the header, check its binding and that the policy covers the patient, frame-check
    and hash the body. Leaves ``body`` rewound for the block store."""
    header, digest = check_header(
        header_bytes, patient=metadata.patient, record_id=metadata.record_id, version=version
    )
    body.seek(0)
    try:
        info = validate_body_stream(body, header)
    except CryptoError as exc:
        raise UnprocessableError(
            f"body does not match its header: {exc}", code="invalid_body"
        ) from exc
    if info.sha256 is None:  # pragma: no cover - validate_body_stream always hashes
        raise UnprocessableError("body digest unavailable", code="invalid_body")
    body.seek(0)
    return CheckedUpload(
        metadata=metadata,
        header=header,
        header_bytes=header_bytes,
        body=body,
        body_length=info.body_length,
        body_sha256=info.sha256,
        policy_hash=digest,
    )
