"""``medledger patient access``: who read my records, in words a patient can follow.

The chain logs every read of a record's content, the header and the body apart, so one doctor
opening one record leaves two ``AccessLogged`` events. This view folds them into one row per
read (same reader, record, purpose and decision, the header then the body within
:data:`READ_WINDOW` seconds), names the reader from the consortium's directory (institution,
role, department) beside the address, and leaves out the patient's own reads (re-keying,
opening their own records) unless ``--all``. The events come from the API's index, or with
``--from-chain`` straight from a chain node, for a patient who does not want to trust it.
``--json`` and ``--csv`` give the same rows to scripts, with ISO 8601 times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from clients.cli import checks as check
from clients.cli.common import (
    ApiOption,
    DataDirOption,
    RpcOption,
    WalletOption,
    cli_errors,
    ensure_parent,
    info,
    plural,
    signed_in,
    styled,
)
from clients.cli.ids import remember
from clients.cli.output import (
    Column,
    FullIdsOption,
    JsonLinesOption,
    fit_table,
    is_stdout,
    json_lines,
    plain,
    when,
    write_csv,
)
from clients.cli.people import names

READ_WINDOW = 120  # seconds between the header and the body of one read
CSV_FIELDS = [
    "time", "record_id", "record_type", "accessor", "accessor_name", "purpose", "decision",
    "reason", "parts", "block_number", "tx_hashes",
]  # fmt: skip
COLUMNS = (
    Column("time", wrap=False),
    Column("record", kind="hex", wrap=False),
    Column("type", drop=3),
    Column("who", wrap=True),
    Column("accessor", kind="address", drop=2, wrap=False),
    Column("purpose", drop=4),
    Column("decision", wrap=False),
    Column("reason", drop=5),
    Column("read", drop=6),
    Column("tx", kind="hex", drop=7, wrap=False),
)


@dataclass
class Read:
    """One read: the events of one reader opening one record (header, then body)."""

    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first(self) -> dict[str, Any]:
        return self.events[0]

    def key(self) -> tuple[Any, ...]:
        e = self.first
        return (e["record_id"], e["accessor"].lower(), e["purpose"], e["granted"])

    def json(self, types: dict[str, str], who: dict[str, str]) -> dict[str, Any]:
        e = self.first
        return {
            "time": when(e["time"]),
            "record_id": e["record_id"],
            "record_type": types.get(e["record_id"], "?"),
            "accessor": e["accessor"],
            "accessor_name": who.get(e["accessor"].lower(), "not a member"),
            "purpose": e["purpose"],
            "decision": "granted" if e["granted"] else "denied",
            "reason": check.reason(e["reason_code"]),
            "parts": len(self.events),
            "block_number": e["block_number"],
            "tx_hashes": " ".join(x["tx_hash"] for x in self.events),
        }


def group_reads(events: list[dict[str, Any]]) -> list[Read]:
    """Newest-first events → newest-first reads (at most a header and a body each)."""
    reads: list[Read] = []
    for event in sorted(events, key=lambda e: (e["block_number"], e.get("log_index", 0))):
        last = reads[-1] if reads else None
        if (
            last is not None
            and len(last.events) < 2
            and Read([event]).key() == last.key()
            and event["time"] - last.events[-1]["time"] <= READ_WINDOW
        ):
            last.events.append(event)
        else:
            reads.append(Read([event]))
    return list(reversed(reads))


@cli_errors
def access(
    rpc: str = RpcOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    from_chain: bool = typer.Option(
        False, "--from-chain", help="Read the events from the chain node (--rpc), not the index."
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=500, help="Newest reads to show."),
    show_all: bool = typer.Option(
        False, "--all", help="Also show my own reads (re-keying, opening my records)."
    ),
    as_json: bool = JsonLinesOption,
    csv_file: Path | None = typer.Option(  # noqa: B008
        None, "--csv", help="Write the reads as CSV to this file ('-': standard output)."
    ),
    full_ids: bool = FullIdsOption,
) -> None:
    """Who read my records (or was refused), one row per read, newest first, with names.

    Example: medledger patient access --limit 20
    """
    if csv_file is not None and not is_stdout(csv_file):
        ensure_parent(csv_file)
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        items = list(client.iter_records(chosen.address))
        if from_chain:
            from clients.cli.chain_events import access_events

            addresses = client.chain_info().addresses
            events = access_events(rpc, addresses["AccessLog"], [r.record_id for r in items])
        else:
            events = _indexed(client, chosen.address, limit)
        reads = group_reads(events)
        mine = [r for r in reads if r.first["accessor"].lower() == chosen.address.lower()]
        if not show_all:
            reads = [r for r in reads if r not in mine]
        reads = reads[:limit]
        who = names(client, [r.first["accessor"] for r in reads])
    types = {r.record_id: r.record_type for r in items}
    remember(data_dir, "record", [r.first["record_id"] for r in reads])
    rows = [r.json(types, who) for r in reads]
    if as_json:
        json_lines(rows)
    elif csv_file is not None:
        count = write_csv(csv_file, CSV_FIELDS, rows)
        if not is_stdout(csv_file):
            plain().print(f"wrote {plural(count, 'read')} to {csv_file}")
    else:
        table = fit_table(
            COLUMNS,
            [_row(r, row) for r, row in zip(reads, rows, strict=True)],
            title=f"reads of the records of {chosen.address} ({len(reads)})",
            full_ids=full_ids,
        )
        plain().print(table)
    if mine and not show_all:
        info(f"{plural(len(mine), 'read')} of your own not shown (--all shows them)")
    if not items:
        info("you have no records yet")


def _indexed(client: Any, patient: str, limit: int) -> list[dict[str, Any]]:
    """Enough of the newest indexed events for ``limit`` reads (two events a read at most,
    plus the patient's own): pages of 500 until that many, or the end."""
    events: list[dict[str, Any]] = []
    offset = 0
    while len(events) < 4 * limit:
        page = client.access_events(patient=patient, offset=offset, limit=500)
        events.extend({**e, "time": e["block_time"]} for e in page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    return events


def _row(read: Read, row: dict[str, Any]) -> list[Any]:
    e = read.first
    return [
        row["time"],
        e["record_id"],
        row["record_type"],
        row["accessor_name"],
        e["accessor"],
        row["purpose"],
        "granted" if e["granted"] else styled("denied", "red"),
        row["reason"],
        "header+body" if len(read.events) == 2 else "one part",
        e["tx_hash"],
    ]
