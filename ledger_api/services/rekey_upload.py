"""Receiving a re-key upload: a new header, and a new body for a full re-encryption.

``POST /records/{id}/rekey`` is ``multipart/form-data`` with a file part ``header`` and an
optional file part ``body`` (no metadata: the record id is in the path and everything else is
the record's own). As for a share (:mod:`ledger_api.services.uploads`), the bytes are counted
as they arrive and the read stops at the limit (413), so an oversized upload is refused before
anything is stored; the checks of what was received are in :mod:`ledger_api.services.rekey`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from ledger_api.http_errors import PayloadTooLargeError, UnprocessableError
from ledger_api.services.uploads import UnsupportedMediaTypeError


@dataclass
class RekeyParts:
    """A received re-key: the new header's bytes and, for a full re-key, the spooled body."""

    header_bytes: bytes
    body: IO[bytes] | None
    files: list[UploadFile]

    async def close(self) -> None:
        for upload in self.files:
            await upload.close()


async def _counted(request: Request, limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLargeError(
                f"upload larger than the {limit}-byte limit", details={"limit": limit}
            )
        yield chunk


async def read_rekey_upload(
    request: Request, *, max_upload_bytes: int, max_header_bytes: int
) -> RekeyParts:
    """Receive ``header`` (required) and ``body`` (optional) with a running byte count."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaTypeError(
            "POST /records/{id}/rekey takes multipart/form-data (header [, body])",
            details={"content_type": content_type},
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_upload_bytes:
        raise PayloadTooLargeError(
            f"upload of {declared} bytes is over the {max_upload_bytes}-byte limit",
            details={"limit": max_upload_bytes},
        )
    parser = MultiPartParser(
        request.headers,
        _counted(request, max_upload_bytes),
        max_files=2,
        max_fields=0,
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
        header, body = form.get("header"), form.get("body")
        unknown = sorted(set(form.keys()) - {"header", "body"})
        if unknown:
            raise UnprocessableError(
                f"unexpected parts {', '.join(unknown)}: a re-key takes header and body only",
                code="invalid_upload",
                details={"unexpected": unknown},
            )
        if not isinstance(header, UploadFile):
            raise UnprocessableError("the re-key lacks the header file part", code="invalid_upload")
        if body is not None and not isinstance(body, UploadFile):
            raise UnprocessableError("body must be a file part", code="invalid_upload")
        header.file.seek(0)
        header_bytes = header.file.read(max_header_bytes + 1)
        if len(header_bytes) > max_header_bytes:
            raise PayloadTooLargeError(
                f"header larger than the {max_header_bytes}-byte limit",
                details={"limit": max_header_bytes, "part": "header"},
            )
        if body is not None:
            body.file.seek(0)
        return RekeyParts(
            header_bytes=header_bytes, body=None if body is None else body.file, files=files
        )
    except BaseException:
        for upload in files:
            await upload.close()
        raise
