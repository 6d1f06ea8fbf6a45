"""Ids as people type them: full, a unique prefix (as git takes hashes), or as a table shows.

Record, consent, referral, consultation and break-glass ids are 32 random bytes: nobody types
64 hex digits. Every command that takes one accepts ``0x868efd8d3c…`` (4 or more hex digits,
with or without ``0x``) and the shortened form the tables print, ``0x868efd8d…003c``. An
abbreviation is resolved against the ids the caller can list through the API (a patient's
records and consents, a clinician's referrals and consultations) and the ids this data
directory's command line has shown before (kept in ``<data-dir>/cli/ids.json``, newest
:data:`KEEP` per kind): a doctor abbreviates the record ids that ``doctor records`` or
``referral show`` printed. No match is a not-found error; several are an error listing them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from clients.cli.common import EXIT_NOT_FOUND, CliError, resolve_data_dir

KEEP = 2000
MIN_DIGITS = 4
_FULL = re.compile(r"(?:0[xX])?([0-9a-fA-F]{64})")
_ABBREVIATED = re.compile(r"(?:0[xX])?([0-9a-fA-F]*)(?:(?:…|\.\.\.?)([0-9a-fA-F]*))?")

Candidates = Callable[[], Iterable[str]]


def full_or_abbreviated(value: str, what: str) -> str:
    """Check the form only (before any wallet is opened): a full id comes back normalised
    (``0x`` + lower-case hex); an abbreviation comes back as given, for :func:`resolve`."""
    text = value.strip()
    if _FULL.fullmatch(text):
        return "0x" + text[-64:].lower()
    match = _ABBREVIATED.fullmatch(text)
    if (
        not match
        or not MIN_DIGITS <= len(match.group(1)) < 64
        or len(match.group(1)) + len(match.group(2) or "") > 64
    ):
        raise CliError(
            f"{what} is 0x followed by 64 hex digits, or a unique prefix of at least "
            f"{MIN_DIGITS} of them (0x868efd8d, or 0x868efd8d…003c as tables show it), "
            f"got {value!r}"
        )
    return text


def is_full(value: str) -> bool:
    return bool(_FULL.fullmatch(value))


def resolve(
    value: str,
    what: str,
    *,
    kind: str,
    data_dir: str | Path | None,
    candidates: Candidates | None = None,
    hint: str = "",
) -> str:
    """The one full id ``value`` abbreviates (a full id is returned as it is)."""
    checked = full_or_abbreviated(value, what)
    if is_full(checked):
        return checked
    match = _ABBREVIATED.fullmatch(checked)
    assert match is not None  # checked above
    head, tail = match.group(1).lower(), (match.group(2) or "").lower()
    known = set(seen(data_dir, kind))
    if candidates is not None:
        known.update(c.lower() for c in candidates() if c)
    hits = sorted(c for c in known if c[2:].startswith(head) and c.endswith(tail))
    shown = f"0x{head}…{tail}" if tail else f"0x{head}"
    if not hits:
        raise CliError(
            f"no {what} matches {shown}{': ' + hint if hint else ''}",
            exit_code=EXIT_NOT_FOUND,
        )
    if len(hits) > 1:
        listed = ", ".join(hits[:6]) + (f" and {len(hits) - 6} more" if len(hits) > 6 else "")
        raise CliError(f"{shown} is ambiguous: {len(hits)} {what}s match ({listed}); type more")
    return hits[0]


def my_record(client: Any, value: str, me: str, data_dir: str | Path | None) -> str:
    """The full id of one of my records (a patient's) from a unique prefix or the full id:
    ``client`` is a signed-in :class:`~clients.sdk.MedLedgerClient`."""
    return resolve(
        value,
        "record id",
        kind="record",
        data_dir=data_dir,
        candidates=lambda: [r.record_id for r in client.iter_records(me)],
        hint="see `medledger patient records`",
    )


def workflow_id(value: str, kind: str, data_dir: str | Path | None) -> str:
    """A referral or consultation id (``kind``), full or a prefix a listing here showed."""
    lister = "referral list" if kind == "referral" else "consult list"
    return resolve(
        value, f"{kind} id", kind=kind, data_dir=data_dir, hint=f"see `medledger {lister}`"
    )


# ----------------------------------------------------------------------------- seen ids


def _path(data_dir: str | Path | None) -> Path:
    return resolve_data_dir(data_dir) / "cli" / "ids.json"


def _load(path: Path) -> dict[str, list[str]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): [str(i) for i in v if isinstance(i, str) and _FULL.fullmatch(i)]
        for k, v in raw.items()
        if isinstance(v, list)
    }


def seen(data_dir: str | Path | None, kind: str) -> list[str]:
    """The ``kind`` ids this data directory's command line has printed, oldest first."""
    return _load(_path(data_dir)).get(kind, [])


def remember(data_dir: str | Path | None, kind: str, ids: Iterable[str | None]) -> None:
    """Note ids a command printed, so that their prefixes resolve later. Best effort: a data
    directory that cannot be written only loses the convenience."""
    fresh = [i.lower() for i in ids if i and _FULL.fullmatch(i)]
    if not fresh:
        return
    path = _path(data_dir)
    table = _load(path)
    kept = [i for i in table.get(kind, []) if i not in set(fresh)] + list(dict.fromkeys(fresh))
    table[kind] = kept[-KEEP:]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return
