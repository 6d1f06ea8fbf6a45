"""``medledger auditor events|verify``: the access log, and whether the index can be trusted.

``events`` lists access decisions (granted and denied) from the API's index, newest first,
as a table or — for a report — every matching event as CSV. ``verify`` asks the API to compare
the index with the chain, re-hash stored bodies against the on-chain digests and check every
logged read's signature and justification, resuming until the range is done; a failed
verification exits non-zero so that a scheduled audit job notices.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from clients.cli import checks as check
from clients.cli.common import (
    ApiOption,
    CliError,
    DataDirOption,
    WalletOption,
    cli_errors,
    ensure_parent,
    plain,
    plural,
    short,
    signed_in,
    styled,
    when,
)
from clients.sdk import MedLedgerClient

auditor_app = typer.Typer(
    help="Auditors: the on-chain access log and verification of index and store.",
    no_args_is_help=True,
)

CSV_FIELDS = [
    "block_time",
    "record_id",
    "patient",
    "accessor",
    "purpose",
    "granted",
    "reason_code",
    "reason",
    "block_number",
    "tx_hash",
    "log_index",
]
PAGE = 500  # the API's maximum page
# the report's sections, and how each of their lines starts
SECTIONS = {
    "index_vs_chain": "mismatch",
    "bodies": "mismatch",
    "read_signatures": "forged read",
    "justifications": "unjustified",
}


def _all_events(client: MedLedgerClient, filters: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.access_events(**filters, offset=offset, limit=PAGE)
        items.extend(page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return items


@auditor_app.command("events")
@cli_errors
def events(
    patient: str | None = typer.Option(None, "--patient", help="Only this patient's records."),
    record: str | None = typer.Option(None, "--record", help="Only this record."),
    accessor: str | None = typer.Option(None, "--accessor", help="Only reads by this address."),
    granted: bool | None = typer.Option(
        None, "--granted/--denied", help="Only granted, or only denied, reads [both]."
    ),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO 8601 / unix)."),
    until: str | None = typer.Option(None, "--until", help="Before this time (exclusive)."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="Rows in the table."),
    csv_file: Path | None = typer.Option(  # noqa: B008
        None, "--csv", help="Write every matching event to this CSV file instead."
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Access decisions (granted and denied), newest first; filters combine.

    Example: medledger auditor events --denied --since 2026-11-01T00:00:00Z --csv denied.csv
    """
    filters: dict[str, Any] = {
        "patient": check.address(patient, "--patient") if patient else None,
        "record": check.bytes32_hex(record, "--record") if record else None,
        "accessor": check.address(accessor, "--accessor") if accessor else None,
        "granted": granted,
        "since": check.timestamp(since, "--since"),
        "until": check.timestamp(until, "--until"),
    }
    filters = {k: v for k, v in filters.items() if v is not None}
    if csv_file is not None:
        ensure_parent(csv_file)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        if csv_file is not None:
            rows = _all_events(client, filters)
            total = len(rows)
        else:
            page = client.access_events(**filters, offset=0, limit=limit)
            rows, total = page.items, page.total
    if csv_file is not None:
        _write_csv(csv_file, rows)
        plain().print(f"wrote {plural(len(rows), 'event')} to {csv_file}")
        return
    table = Table(title=f"access events ({len(rows)} of {total}, newest first)")
    for column in ("time", "record", "patient", "accessor", "purpose", "decision", "reason", "tx"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            when(row.get("block_time")),
            short(row.get("record_id")),
            row.get("patient") or "-",
            str(row.get("accessor")),
            str(row.get("purpose")),
            "granted" if row.get("granted") else styled("denied", "red"),
            check.reason(row.get("reason_code")),
            short(row.get("tx_hash")),
        )
    plain().print(table)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """All rows, then rename: a report file is either complete or absent."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "reason": check.reason(row.get("reason_code"))})
    tmp.replace(path)


@auditor_app.command("verify")
@cli_errors
def verify(
    from_block: int | None = typer.Option(None, "--from-block", min=0, help="[deployment]"),
    to_block: int | None = typer.Option(None, "--to-block", min=0, help="[chain head]"),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Check the index against the chain (records, consents, reads, workflows, break-glass,
    members), stored bodies against on-chain digests, and every logged read's signature and
    justification. Long ranges are verified call after call, each resuming where the last
    stopped.

    Exits 1 when anything differs or fails (each one is listed).

    Example: medledger auditor verify
    """
    with signed_in(api, data_dir, wallet) as (client, _, _):
        report = client.verify_all(from_block=from_block, to_block=to_block)
    table = Table(title=f"verification of blocks {report['from_block']}–{report['to_block']}")
    table.add_column("checked")
    table.add_column("count", justify="right")
    for name, count in sorted(report.get("checked", {}).items()):
        table.add_row(name, str(count))
    plain().print(table)
    if report.get("not_yet_indexed"):
        plain().print(
            f"{plural(report['not_yet_indexed'], 'event')} not yet indexed "
            f"(indexed to {report.get('indexed_to')})"
        )
    for name, label in SECTIONS.items():
        for problem in report.get(name, []):
            detail = " ".join(f"{key}={value}" for key, value in problem.items())
            plain().print(styled(label, "red"), detail)
    problems = sum(len(report.get(name, [])) for name in SECTIONS)
    if problems or not report.get("ok"):
        forged = len(report.get("read_signatures", []))
        note = f" ({plural(forged, 'read')} with a failing signature)" if forged else ""
        mismatches = f"{problems} mismatch{'' if problems == 1 else 'es'}"
        raise CliError(f"verification failed: {mismatches}{note}")
    plain().print(
        styled("ok:", "green"),
        "the index matches the chain and every body its digest; every read is signed by its "
        "reader and every grant justified on chain",
    )
