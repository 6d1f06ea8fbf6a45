"""``medledger outbox …``: shares kept on this machine until the API acknowledged them.

Every share the command line makes is first written, encrypted, to ``<data dir>/outbox``
(:mod:`clients.sdk.outbox`) and removed once the API answered that it is registered on chain.
What a crash, a lost connection or a chain outage left there is listed by ``outbox list`` and
sent again, byte for byte, by ``outbox flush``: the API answers with the same record, never a
duplicate. ``outbox drop`` forgets an entry (its record was never registered, or you do not
want it any more).
"""

from __future__ import annotations

import typer

from clients.cli.common import (
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    ApiOption,
    CliError,
    DataDirOption,
    WalletOption,
    cli_errors,
    resolve_data_dir,
    signed_in,
)
from clients.cli.output import JsonLinesOption, json_lines, plain, when
from clients.sdk.outbox import Outbox

outbox_app = typer.Typer(no_args_is_help=True)


def _outbox(data_dir: str | None) -> Outbox:
    return Outbox.of_data_dir(resolve_data_dir(data_dir))


@outbox_app.command("list")
@cli_errors
def list_entries(data_dir: str | None = DataDirOption, as_json: bool = JsonLinesOption) -> None:
    """Shares not yet acknowledged by the API (oldest first)."""
    entries = [entry.view() for entry in _outbox(data_dir).entries()]
    if as_json:
        json_lines(entries)
        return
    out = plain()
    if not entries:
        out.print("the outbox is empty")
        return
    for e in entries:
        note = f"  last error: {e['last_error']}" if e["last_error"] else ""
        out.print(
            f"{e['record_id']}  {e['record_type']}  patient {e['patient']}  {e['bytes']} bytes"
            f"  kept since {when(int(e['created_at'] or 0))}  attempts {e['attempts']}{note}"
        )


@outbox_app.command("flush")
@cli_errors
def flush(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Send again, byte for byte, every kept share the wallet authored; forget each one the
    API acknowledges. Exits non-zero if any is still kept."""
    with signed_in(api, data_dir, wallet) as (client, _, _):
        results = client.flush_outbox()
    rows = [
        {"record_id": rid, "ok": False, "detail": str(r)}
        if isinstance(r, Exception)
        else {"record_id": rid, "ok": True, "detail": f"block {r.block_number}"}
        for rid, r in results
    ]
    if as_json:
        json_lines(rows)
    else:
        out = plain()
        if not rows:
            out.print("nothing to send")
        for row in rows:
            verdict = "registered" if row["ok"] else "still kept"
            out.print(f"{row['record_id']}  {verdict}  {row['detail']}")
    if any(not row["ok"] for row in rows):
        raise typer.Exit(EXIT_ERROR)


@outbox_app.command("drop")
@cli_errors
def drop(
    record_id: str = typer.Argument(..., help="The record id of the entry (0x + 64 hex)."),
    data_dir: str | None = DataDirOption,
) -> None:
    """Forget a kept share without sending it."""
    if not _outbox(data_dir).remove(record_id):
        raise CliError(f"the outbox holds no record {record_id}", exit_code=EXIT_NOT_FOUND)
    plain().print(f"dropped {record_id}")
