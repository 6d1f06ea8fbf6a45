"""A record's clinical date: the one clear clinical field of the index, checked and ordered.

The uploader may name when the care happened (FHIR ``effective[x]``, ``issued``, an
encounter's start…) so that a patient's timeline can be put in clinical order without the
API ever reading the encrypted content. Only a FHIR ``date`` / ``dateTime`` / ``instant`` is
accepted: a year, a month, a day, or a day with a time (and, per FHIR, a zone when there is a
time — a missing zone is read as UTC here rather than refused, since the ordering is all the
API does with it). Anything else is refused before the upload is stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["MAX_RECORD_DATE_CHARS", "check_record_date", "record_date_seconds"]

MAX_RECORD_DATE_CHARS = 40

_FHIR_DATE_TIME = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def check_record_date(text: str) -> str:
    """``text`` unchanged if it is a FHIR date or date-time (ValueError otherwise)."""
    if len(text) > MAX_RECORD_DATE_CHARS or _FHIR_DATE_TIME.fullmatch(text) is None:
        raise ValueError(
            "record_date must be a FHIR date or date-time (YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDThh:mm[:ss][Z|±hh:mm])"
        )
    record_date_seconds(text)  # month 13, day 32, hour 25… are refused here
    return text


def record_date_seconds(text: str) -> int:
    """Unix seconds of the start of the period ``text`` names (for ordering only)."""
    match = _FHIR_DATE_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not a FHIR date or date-time: {text!r}")
    year = int(match["year"])
    month = int(match["month"] or 1)
    day = int(match["day"] or 1)
    try:
        if match["time"] is None:
            moment = datetime(year, month, day, tzinfo=UTC)
        else:
            zone = match["zone"] or "Z"
            moment = datetime.fromisoformat(
                f"{match['year']}-{match['month']}-{match['day']}T{match['time']}"
                + ("+00:00" if zone == "Z" else zone)
            )
    except ValueError as exc:
        raise ValueError(f"not a calendar date or time: {text!r} ({exc})") from None
    return int(moment.timestamp())
