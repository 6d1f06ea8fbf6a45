"""Receiving a re-key upload: a new header, and a new body for a full re-encryption.

``POST /records/{id}/rekey`` is ``multipart/form-data`` with a text field ``signed`` (the
actor's signature of the re-key and its deadline), a file part ``header`` and an optional file
part ``body`` (the record id is in the path and everything else is the record's own).
As for a share (:mod:`ledger_api.services.uploads`), the bytes are counted
as they arrive and the read stops at the limit (413), so an oversized upload is refused before
anything is stored; the checks of what was received are in :mod:`ledger_api.services.rekey`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from ledger_api.http_errors import UnprocessableError
from ledger_api.services.signed_actions import SignedAction, parse_signed_field
from ledger_api.services.uploads import read_header_part, read_multipart


@dataclass
class RekeyParts:
    """A received re-key: the new header's bytes and, for a full re-key, the spooled body."""

    header_bytes: bytes
    body: IO[bytes] | None
    files: list[UploadFile]
    signed: SignedAction | None = None

    async def close(self) -> None:
        for upload in self.files:
            await upload.close()


async def read_rekey_upload(
    request: Request, *, max_upload_bytes: int, max_header_bytes: int
) -> RekeyParts:
    """Receive ``header`` (required) and ``body`` (optional) with a running byte count."""
    return await read_multipart(
        request,
        lambda form, files: _parts(form, files, max_header_bytes=max_header_bytes),
        usage="POST /records/{id}/rekey takes multipart/form-data (header [, body])",
        max_upload_bytes=max_upload_bytes,
        max_header_bytes=max_header_bytes,
        max_fields=1,
    )


def _parts(form: FormData, files: list[UploadFile], *, max_header_bytes: int) -> RekeyParts:
    header, body, signed = form.get("header"), form.get("body"), form.get("signed")
    unknown = sorted(set(form.keys()) - {"header", "body", "signed"})
    if unknown:
        raise UnprocessableError(
            f"unexpected parts {', '.join(unknown)}: a re-key takes signed, header and body",
            code="invalid_upload",
            details={"unexpected": unknown},
        )
    if not isinstance(header, UploadFile):
        raise UnprocessableError("the re-key lacks the header file part", code="invalid_upload")
    if body is not None and not isinstance(body, UploadFile):
        raise UnprocessableError("body must be a file part", code="invalid_upload")
    header_bytes = read_header_part(header, max_header_bytes=max_header_bytes)
    if body is not None:
        body.file.seek(0)
    if isinstance(signed, UploadFile):
        raise UnprocessableError("signed must be a text field", code="invalid_upload")
    return RekeyParts(
        header_bytes=header_bytes,
        body=None if body is None else body.file,
        files=files,
        signed=parse_signed_field(signed),
    )
