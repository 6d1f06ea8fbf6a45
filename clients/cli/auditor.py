"""``medledger auditor events|verify``: the access log, and whether the index can be trusted.

``events`` lists access decisions (granted and denied) from the API's index, newest first,
as a table or — for a report — every matching event as CSV. ``verify`` asks the API to compare
the index with the chain, re-hash stored bodies against the on-chain digests and check every
logged read's signature and justification, resuming until the range is done; a failed
verification exits non-zero so that a scheduled audit job notices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from clients.cli import checks as check
from clients.cli.common import (
    EXIT_ERROR,
    ApiOption,
    CliError,
    DataDirOption,
    WalletOption,
    cli_errors,
    ensure_parent,
    plain,
    plural,
    signed_in,
    styled,
    when,
)
from clients.cli.ids import remember, resolve
from clients.cli.lazy import Lazy, lazy_group
from clients.cli.output import (
    Column,
    FullIdsOption,
    JsonLinesOption,
    JsonObjectOption,
    fit_table,
    is_stdout,
    json_lines,
    json_object,
    write_csv,
)
from clients.cli.people import names
from clients.sdk import MedLedgerClient

auditor_app = typer.Typer(
    no_args_is_help=True,
    cls=lazy_group(
        {
            "break-glass": Lazy("clients.cli.break_glass:auditor_break_glass"),
            "review": Lazy("clients.cli.break_glass:auditor_review"),
        }
    ),
)

CSV_FIELDS = [
    "time",
    "record_id",
    "patient",
    "accessor",
    "accessor_name",
    "purpose",
    "granted",
    "reason_code",
    "reason",
    "block_number",
    "tx_hash",
    "log_index",
]
PAGE = 500  # the API's maximum page
COLUMNS = (
    Column("time", wrap=False),
    Column("record", kind="hex", wrap=False),
    Column("patient", kind="address", drop=3, wrap=False),
    Column("accessor", kind="address", drop=2, wrap=False),
    Column("who", drop=4),
    Column("purpose", drop=5),
    Column("decision", wrap=False),
    Column("reason", drop=6),
    Column("tx", kind="hex", drop=7, wrap=False),
)
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
    patient: str | None = typer.Option(
        None, "--patient", help="Only this patient's records (address or wallet name)."
    ),
    record: str | None = typer.Option(
        None, "--record", help="Only this record (id, or a prefix of one listed here before)."
    ),
    accessor: str | None = typer.Option(
        None, "--accessor", help="Only reads by this address (or wallet name)."
    ),
    granted: bool | None = typer.Option(
        None, "--granted/--denied", help="Only granted, or only denied, reads [both]."
    ),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO 8601 / unix)."),
    until: str | None = typer.Option(None, "--until", help="Before this time (exclusive)."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="Rows in the table."),
    csv_file: Path | None = typer.Option(  # noqa: B008
        None,
        "--csv",
        help="Write every matching event to this CSV file instead ('-': standard output).",
    ),
    as_json: bool = JsonLinesOption,
    full_ids: bool = FullIdsOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Access decisions (granted and denied), newest first; filters combine.

    Example: medledger auditor events --denied --since 2026-11-01T00:00:00Z --csv denied.csv
    """
    filters: dict[str, Any] = {
        "patient": check.address_or_wallet(patient, "--patient", data_dir) if patient else None,
        "record": resolve(record, "record id", kind="record", data_dir=data_dir)
        if record
        else None,
        "accessor": check.address_or_wallet(accessor, "--accessor", data_dir) if accessor else None,
        "granted": granted,
        "since": check.timestamp(since, "--since"),
        "until": check.timestamp(until, "--until"),
    }
    filters = {k: v for k, v in filters.items() if v is not None}
    if csv_file is not None and not is_stdout(csv_file):
        ensure_parent(csv_file)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        if csv_file is not None:
            rows = _all_events(client, filters)
            total = len(rows)
        else:
            page = client.access_events(**filters, offset=0, limit=limit)
            rows, total = page.items, page.total
        who = names(client, [r.get("accessor") for r in rows])
    remember(data_dir, "record", [r.get("record_id") for r in rows])
    rows = [
        {
            **row,
            "time": when(row.get("block_time")),
            "reason": check.reason(row.get("reason_code")),
            "accessor_name": who.get(str(row.get("accessor")).lower(), "-"),
        }
        for row in rows
    ]
    if csv_file is not None:
        count = write_csv(csv_file, CSV_FIELDS, rows)
        if not is_stdout(csv_file):
            plain().print(f"wrote {plural(count, 'event')} to {csv_file}")
        return
    if as_json:
        json_lines(rows)
        return
    table = fit_table(
        COLUMNS,
        [
            [
                row["time"],
                str(row.get("record_id")),
                row.get("patient") or "-",
                str(row.get("accessor")),
                row["accessor_name"],
                str(row.get("purpose")),
                "granted" if row.get("granted") else styled("denied", "red"),
                row["reason"],
                str(row.get("tx_hash")),
            ]
            for row in rows
        ],
        title=f"access events ({len(rows)} of {total}, newest first)",
        full_ids=full_ids,
    )
    plain().print(table)


@auditor_app.command("verify")
@cli_errors
def verify(
    from_block: int | None = typer.Option(None, "--from-block", min=0, help="[deployment]"),
    to_block: int | None = typer.Option(None, "--to-block", min=0, help="[chain head]"),
    as_json: bool = JsonObjectOption,
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
    if as_json:
        json_object(report)
        if not report.get("ok"):
            raise CliError("verification failed", exit_code=EXIT_ERROR)
        return
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
