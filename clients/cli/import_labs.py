"""``medledger patient import-labs FILE.csv``: a legacy lab export shared as FHIR Observations.

The file is converted with :mod:`clients.sdk.lab_csv` (every row checked: LOINC check digit, UCUM
unit, number, time) and each row's hospital patient id is mapped to a chain address — all of
it before the wallet is opened. A file with any bad row uploads nothing: each problem is
printed (line, column, reason) and the command fails, unless ``--skip-bad-rows`` shares the
good rows. Each Observation becomes one record (``--bundle``: one ``Bundle`` per patient),
validated, encrypted under the policy (which always also admits the patient) and registered,
with its clinical date as the only clear field besides its type.

Who runs it: a patient importing their own results (``--patient`` defaults to the wallet's
address), or a clinician sharing a department's export for several patients
(``--patient-map map.csv`` with the columns ``patient_id,address``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from clients.cli import checks as check
from clients.cli.common import (
    EXIT_NOT_FOUND,
    ApiOption,
    CliError,
    DataDirOption,
    WalletOption,
    cli_errors,
    count_bar,
    exit_code_for,
    info,
    one_line,
    plain,
    plural,
    signed_in,
    stderr,
)
from clients.sdk import MedLedgerClient, RecordInfo
from clients.sdk.errors import ClientError
from clients.sdk.lab_csv import Conversion, LabCsvError, RowError, convert_file

MAX_MAP_ROWS = 100_000
FileArgument = typer.Argument(..., help="The lab export (CSV: patient_id,loinc,value,unit,time).")


@dataclass(frozen=True)
class Upload:
    """One record to share: the resource, whose chart it goes to and the file lines it holds."""

    lines: tuple[int, ...]
    patient_id: str
    address: str | None  # None: the wallet's own address (known after it is opened)
    resource: dict[str, Any]


@cli_errors
def import_labs(
    file: Path = FileArgument,
    policy: str = typer.Option(
        ..., "--policy", help='Who may read the results, e.g. "org:cd3h and dept:cardiology".'
    ),
    patient: str | None = typer.Option(
        None, "--patient", help="Every row is this patient's (an address) [me]."
    ),
    patient_map: Path | None = typer.Option(  # noqa: B008
        None, "--patient-map", help="CSV patient_id,address mapping the file's patient ids."
    ),
    skip_bad_rows: bool = typer.Option(
        False, "--skip-bad-rows", help="Share the good rows of a file that has bad ones."
    ),
    bundle: bool = typer.Option(
        False, "--bundle", help="One Bundle record per patient instead of one per result."
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Convert a lab CSV to FHIR Observations and share them (nothing if a row is bad).

    Example: medledger patient import-labs labs.csv --policy "org:cd3h" --patient-map ids.csv
    """
    if patient is not None and patient_map is not None:
        raise CliError("give at most one of --patient ADDRESS and --patient-map FILE")
    if not file.is_file():
        raise CliError(f"no such file: {file}", exit_code=EXIT_NOT_FOUND)
    check.policy(policy)
    owner = check.address_or_wallet(patient, "--patient", data_dir) if patient else None
    mapping = _read_map(patient_map) if patient_map is not None else None
    try:
        conversion = convert_file(file)
    except LabCsvError as exc:
        raise CliError(str(exc)) from None
    uploads, errors = _plan(conversion, owner=owner, mapping=mapping, bundle=bundle)
    if errors:
        for error in errors:
            stderr().print(f"{file.name}: {error}")
        if not skip_bad_rows:
            raise CliError(
                f"{plural(len(errors), 'problem')} in {file.name}; nothing was uploaded "
                "(fix the rows, or share the good ones with --skip-bad-rows)"
            )
        info(f"skipping the bad rows: {plural(len(errors), 'problem')}")
    if not uploads:
        raise CliError(f"no good rows in {file.name}: nothing to upload")
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        shared = _share_all(client, uploads, policy=policy, me=chosen.address)
    table = Table(title=f"shared {plural(len(shared), 'record')} from {file.name}")
    for column in ("lines", "patient id", "patient", "record id", "type", "date"):
        table.add_column(column, no_wrap=True)
    for upload, record in shared:
        table.add_row(
            ",".join(str(line) for line in upload.lines),
            upload.patient_id,
            record.patient,
            record.record_id,
            record.record_type,
            str(record.raw.get("record_date") or "-"),
        )
    plain().print(table)


def _read_map(path: Path) -> dict[str, str]:
    """``patient_id → address`` from a CSV with those two columns (checked, before uploading)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise CliError(
            f"cannot read {path}: {exc.strerror or exc}", exit_code=EXIT_NOT_FOUND
        ) from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path} is not UTF-8 text: {exc.reason}") from None
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["patient_id", "address"]:
        raise CliError(f"{path} must start with the header row patient_id,address")
    if len(rows) > MAX_MAP_ROWS:
        raise CliError(f"{path} has more than {MAX_MAP_ROWS} rows")
    mapping: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2:
            raise CliError(f"{path}: line {line} needs a patient_id and an address")
        pid = row[0].strip()
        address = check.address(row[1].strip(), f"{path.name} line {line} address")
        if mapping.get(pid, address) != address:
            raise CliError(f"{path}: line {line} maps {pid} to a second address")
        mapping[pid] = address
    return mapping


def _plan(
    conversion: Conversion,
    *,
    owner: str | None,
    mapping: dict[str, str] | None,
    bundle: bool,
) -> tuple[list[Upload], list[RowError]]:
    """The records to share and every problem (the converter's and the patient mapping's)."""
    errors = list(conversion.errors)
    placed: list[tuple[int, str, str | None, dict[str, Any]]] = []
    ids = {o["subject"]["reference"].removeprefix("Patient/") for _, o in conversion.observations}
    if mapping is None and len(ids) > 1:
        raise CliError(
            f"the file holds {len(ids)} patient ids ({', '.join(sorted(ids)[:5])}…): "
            "map them to addresses with --patient-map"
        )
    for line, observation in conversion.observations:
        pid = observation["subject"]["reference"].removeprefix("Patient/")
        if mapping is None:
            placed.append((line, pid, owner, observation))
        elif pid in mapping:
            placed.append((line, pid, mapping[pid], observation))
        else:
            errors.append(RowError(line, "patient_id", f"{pid!r} is not in the patient map"))
    errors.sort(key=lambda e: e.line)
    if not bundle:
        return [Upload((line,), pid, address, obs) for line, pid, address, obs in placed], errors
    groups: dict[tuple[str, str | None], list[tuple[int, dict[str, Any]]]] = {}
    for line, pid, address, obs in placed:
        groups.setdefault((pid, address), []).append((line, obs))
    uploads = [
        Upload(
            tuple(line for line, _ in rows),
            pid,
            address,
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": obs} for _, obs in rows],
            },
        )
        for (pid, address), rows in groups.items()
    ]
    return uploads, errors


def _share_all(
    client: MedLedgerClient, uploads: list[Upload], *, policy: str, me: str
) -> list[tuple[Upload, RecordInfo]]:
    """Share each upload in order with a progress bar; a failure names how far it got."""
    shared: list[tuple[Upload, RecordInfo]] = []
    bar = count_bar()
    with bar:
        task = bar.add_task("sharing lab results", total=len(uploads))
        for upload in uploads:
            try:
                record = client.share_fhir(
                    upload.resource, patient=upload.address or me, policy=policy
                )
            except ClientError as exc:
                raise _partial(exc, shared, upload) from None
            shared.append((upload, record))
            bar.advance(task)
    return shared


def _partial(exc: ClientError, shared: list[tuple[Upload, RecordInfo]], upload: Upload) -> CliError:
    """The failure, with what was shared before it (those records stay: each is complete)."""
    done = ", ".join(r.record_id for _, r in shared) or "none"
    return CliError(
        f"line {upload.lines[0]} was not shared: {one_line(exc)}; "
        f"{plural(len(shared), 'record')} shared before it: {done}",
        exit_code=exit_code_for(exc),
    )
