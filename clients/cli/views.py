"""Tables and files the ``medledger`` commands show or write: one object in full, a list of
records, a record decrypted to a file (or to standard output).

Kept apart from :mod:`clients.cli.common` (options, consoles, wallets, errors) so that module
stays about running a command; every command prints these views the same way.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from clients.cli.common import CliError, ensure_parent, info, short, transfer_progress
from clients.cli.ids import remember
from clients.cli.output import Column, fit_table, is_stdout, json_lines, plain

if TYPE_CHECKING:
    from clients.sdk import FetchResult, MedLedgerClient, RecordInfo
    from clients.sdk.authorities import MemberKey
    from crypto.patient_key import PatientKey

RECORD_COLUMNS = (
    Column("record id", kind="id", wrap=False),
    Column("type"),
    Column("author", kind="address", drop=2, wrap=False),
    Column("block", drop=3, wrap=False, justify="right"),
    Column("tx", kind="hex", drop=3, wrap=False),
)


def fields_table(rows: list[tuple[str, str]], *, title: str) -> Table:
    """A two-column (field, value) table without header: one object shown in full."""
    table = Table(title=title, show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    return table


def records_table(records: list[RecordInfo], *, title: str, full_ids: bool = False) -> Table:
    rows = [
        [
            record.record_id,
            record.record_type,
            record.author,
            "-" if record.block_number is None else str(record.block_number),
            record.tx_hash or "-",
        ]
        for record in records
    ]
    return fit_table(RECORD_COLUMNS, rows, title=title, full_ids=full_ids)


def print_records(
    items: list[RecordInfo],
    *,
    title: str,
    as_json: bool,
    full_ids: bool = False,
    data_dir: str | None = None,
) -> None:
    """A records listing as a table (or JSON lines); their ids resolve by prefix afterwards."""
    remember(data_dir, "record", [item.record_id for item in items])
    if as_json:
        json_lines(record_json(item) for item in items)
        return
    plain().print(records_table(items, title=f"{title} ({len(items)})", full_ids=full_ids))


def record_json(record: RecordInfo) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "patient": record.patient,
        "author": record.author,
        "record_type": record.record_type,
        "header_cid": record.header_cid,
        "body_cid": record.body_cid,
        "body_sha256": record.body_sha256,
        "policy_hash": record.policy_hash,
        "tx_hash": record.tx_hash,
        "block_number": record.block_number,
    }


def write_record(
    client: MedLedgerClient,
    record_id: str,
    output: Path,
    *,
    user_key: MemberKey | PatientKey,
    purpose: str,
    force: bool,
) -> FetchResult:
    """Download, check and decrypt a record to ``output`` with a progress bar, and say so.

    ``-`` writes the plaintext to standard output (the note goes to stderr), once it is whole
    and checked: the SDK decrypts into a private temporary directory first. Refuses to
    overwrite a file unless ``force``; the SDK leaves nothing at ``output`` when the read is
    refused or the decryption fails.
    """
    if is_stdout(output):
        with tempfile.TemporaryDirectory(prefix="medledger-") as tmp:
            result = _fetch(client, record_id, Path(tmp) / "record", user_key, purpose)
            with (Path(tmp) / "record").open("rb") as plaintext:
                shutil.copyfileobj(plaintext, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        info(f"wrote {result.bytes_written} bytes ({result.content_type}) to standard output")
        return result
    if output.exists() and not force:
        raise CliError(f"{output} exists; use --force to overwrite it")
    ensure_parent(output)
    result = _fetch(client, record_id, output, user_key, purpose)
    plain().print(f"wrote {result.bytes_written} bytes ({result.content_type}) to {output}")
    return result


def _fetch(
    client: MedLedgerClient,
    record_id: str,
    output: Path,
    user_key: MemberKey | PatientKey,
    purpose: str,
) -> FetchResult:
    with transfer_progress(f"fetching {short(record_id)}") as progress:
        return client.fetch(
            record_id, output, user_key=user_key, purpose=purpose, progress=progress
        )
