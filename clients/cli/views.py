"""Tables and files the ``medledger`` commands show or write: one object in full, a list of
records, a record decrypted to a file.

Kept apart from :mod:`clients.cli.common` (options, consoles, wallets, errors) so that module
stays about running a command; every command prints these views the same way.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from clients.cli.common import CliError, ensure_parent, short, transfer_progress
from clients.sdk import FetchResult, MedLedgerClient, RecordInfo
from crypto.fame_types import UserKey


def fields_table(rows: list[tuple[str, str]], *, title: str) -> Table:
    """A two-column (field, value) table without header: one object shown in full."""
    table = Table(title=title, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for name, value in rows:
        table.add_row(name, value)
    return table


def records_table(records: list[RecordInfo], *, title: str) -> Table:
    table = Table(title=title)
    for column in ("record id", "type", "author", "block", "tx"):
        table.add_column(column, no_wrap=True)
    for record in records:
        table.add_row(
            record.record_id,
            record.record_type,
            record.author,
            "-" if record.block_number is None else str(record.block_number),
            short(record.tx_hash),
        )
    return table


def write_record(
    client: MedLedgerClient,
    record_id: str,
    output: Path,
    *,
    user_key: UserKey,
    purpose: str,
    force: bool,
) -> FetchResult:
    """Download, check and decrypt a record to ``output`` with a progress bar.

    Refuses to overwrite a file unless ``force``; the SDK leaves nothing at ``output`` when the
    read is refused or the decryption fails.
    """
    if output.exists() and not force:
        raise CliError(f"{output} exists; use --force to overwrite it")
    ensure_parent(output)
    with transfer_progress(f"fetching {short(record_id)}") as progress:
        return client.fetch(
            record_id, output, user_key=user_key, purpose=purpose, progress=progress
        )
