"""Legacy lab exports (CSV) to FHIR R4 Observations, with row-level errors.

The consortium's hospital information systems can all export lab results as a flat CSV; few can
speak FHIR. This converter is the small bridge: one row, one ``Observation`` (status ``final``,
category ``laboratory``, LOINC code, UCUM quantity, ``effectiveDateTime``). It is strict on
purpose — a wrong unit or a mistyped LOINC code in a shared record is worse than a refused file —
so every row is checked and every problem is reported with its line number, column and reason.
The caller decides what to do with a file that has errors (the CLI uploads nothing unless told to
skip bad rows).

Columns (header row required, names case-insensitive, order free, extra columns ignored):
``patient_id`` (the hospital's own patient identifier), ``loinc`` (e.g. ``718-7``; the check
digit is verified), ``value`` (a decimal number), ``unit`` (UCUM, e.g. ``g/dL``), ``time``
(ISO 8601; a time without an offset is taken in ``default_tz``, China Standard Time unless
told otherwise, since FHIR requires an offset on any ``dateTime`` with a time), and an optional
``display`` (the test's name).

Resources are validated with ``fhir.resources.R4B`` — the installed ``fhir.resources`` defaults to
R5, and R4B is the closest it ships to R4.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from clients.sdk.errors import ClientError

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
REQUIRED_COLUMNS = ("patient_id", "loinc", "value", "unit", "time")
OPTIONAL_COLUMNS = ("display",)
LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
MAX_ROWS = 100_000  # a lab export larger than this should be split, not held in memory

_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_UCUM = re.compile(r"^[\x21-\x7e]{1,32}$")  # printable ASCII, no spaces, as UCUM codes are
_PATIENT_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR id syntax


class LabCsvError(ClientError):
    """The file as a whole cannot be read (no header, missing columns, too many rows)."""


@dataclass(frozen=True)
class RowError:
    """One problem in one cell: the file's line number (the header is line 1)."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass
class Conversion:
    """What a file gave: the Observations of good rows (with their line) and every error."""

    observations: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_patient(self) -> dict[str, list[dict[str, Any]]]:
        """Good Observations grouped by the hospital's patient id, in file order."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for _, observation in self.observations:
            patient_id = observation["subject"]["reference"].removeprefix("Patient/")
            groups.setdefault(patient_id, []).append(observation)
        return groups


def loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit of the part before the hyphen (the Luhn algorithm)."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return (10 - total % 10) % 10


def _check_loinc(text: str) -> str:
    match = _LOINC.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a LOINC code (digits, a hyphen, a check digit)")
    number, check = match.groups()
    expected = loinc_check_digit(number)
    if int(check) != expected:
        raise ValueError(f"{text!r} has a wrong check digit (expected {number}-{expected})")
    return text


def _check_value(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _check_time(text: str, default_tz: timezone) -> str:
    if len(text) == 10:  # a bare date stays a date: FHIR allows it, no time to invent
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_tz)
    return moment.isoformat()


def observation_of(
    *,
    patient_id: str,
    loinc: str,
    value: Decimal,
    unit: str,
    effective: str,
    display: str | None = None,
) -> dict[str, Any]:
    """The FHIR R4 Observation (as JSON-ready dict) of one lab result."""
    coding: dict[str, Any] = {"system": LOINC_SYSTEM, "code": loinc}
    if display:
        coding["display"] = display
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [coding]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": effective,
        "valueQuantity": {
            "value": float(value) if value != value.to_integral_value() else int(value),
            "unit": unit,
            "system": UCUM_SYSTEM,
            "code": unit,
        },
    }


def _header_map(header: list[str] | None) -> dict[str, int]:
    if not header:
        raise LabCsvError("the file is empty: expected a header row " + ",".join(REQUIRED_COLUMNS))
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise LabCsvError(
            f"missing column(s) {', '.join(missing)} in the header "
            f"(found: {', '.join(h.strip() for h in header)})"
        )
    return columns


def convert_rows(
    rows: Iterable[list[str]], *, default_tz: timezone = CHINA_STANDARD_TIME
) -> Conversion:
    """Convert parsed CSV rows (the first is the header) to Observations, collecting errors."""
    iterator = iter(rows)
    columns = _header_map(next(iterator, None))
    result = Conversion()
    for line, row in enumerate(iterator, start=2):
        if line - 1 > MAX_ROWS:
            raise LabCsvError(f"more than {MAX_ROWS} rows: split the export")
        if not any(cell.strip() for cell in row):
            continue  # blank lines are common at the end of exports
        cells = {
            name: (row[index].strip() if index < len(row) else "")
            for name, index in columns.items()
        }
        before = len(result.errors)
        fields: dict[str, Any] = {}
        for name in REQUIRED_COLUMNS:
            if not cells[name]:
                result.errors.append(RowError(line, name, "empty"))
        if len(result.errors) > before:
            continue
        checks: dict[str, Callable[[str], Any]] = {
            "patient_id": _check_patient_id,
            "loinc": _check_loinc,
            "value": _check_value,
            "unit": _check_unit,
            "time": partial(_check_time, default_tz=default_tz),
        }
        for name, check in checks.items():
            try:
                fields[name] = check(cells[name])
            except ValueError as exc:
                result.errors.append(RowError(line, name, str(exc)))
        if len(result.errors) > before:
            continue
        observation = observation_of(
            patient_id=fields["patient_id"],
            loinc=fields["loinc"],
            value=fields["value"],
            unit=fields["unit"],
            effective=fields["time"],
            display=cells.get("display") or None,
        )
        try:
            Observation.model_validate(observation)
        except ValidationError as exc:
            result.errors.append(RowError(line, "*", f"not a valid FHIR Observation: {exc}"))
            continue
        result.observations.append((line, observation))
    return result


def _check_patient_id(text: str) -> str:
    if not _PATIENT_ID.match(text):
        raise ValueError(f"{text!r} is not a usable id (1-64 of A-Z a-z 0-9 - .)")
    return text


def _check_unit(text: str) -> str:
    if not _UCUM.match(text):
        raise ValueError(f"{text!r} is not a UCUM unit code (no spaces, printable ASCII)")
    return text


def convert_text(text: str, *, default_tz: timezone = CHINA_STANDARD_TIME) -> Conversion:
    """Convert CSV text; a leading UTF-8 BOM (Excel's habit) is ignored."""
    return convert_rows(csv.reader(io.StringIO(text.removeprefix("\ufeff"))), default_tz=default_tz)


def convert_file(path: Path, *, default_tz: timezone = CHINA_STANDARD_TIME) -> Conversion:
    """Convert a CSV file (UTF-8, with or without BOM)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return convert_rows(csv.reader(handle), default_tz=default_tz)
    except UnicodeDecodeError as exc:
        raise LabCsvError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except OSError as exc:
        raise LabCsvError(f"cannot read {path}: {exc.strerror or exc}") from exc
