"""The envelope's content-type field: one rule for every header version (v1 to v3)."""

from __future__ import annotations

import re

from crypto.errors import EnvelopeFormatError

__all__ = ["check_content_type"]

_CONTENT_TYPE_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,254}")


def check_content_type(content_type: str) -> None:
    """1-255 printable ASCII characters, not starting with a space (a MIME type as sent)."""
    if not isinstance(content_type, str) or not _CONTENT_TYPE_RE.fullmatch(content_type):
        raise EnvelopeFormatError(
            f"content type must be 1-255 printable ASCII characters, got {content_type!r}"
        )
