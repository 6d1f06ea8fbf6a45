"""How results reach the person or the script: tables that fit, JSON, CSV, standard output.

A table must fit the terminal without cutting what the next command needs. :func:`fit_table`
tries, in order: everything in full; ids and hashes shortened (``0x868efd8d…003c``, which every
command accepts back, see :mod:`clients.cli.ids`) unless ``--full-ids``; the low-value columns
dropped, least useful first; the remaining text wrapped. The id and the decision are never
dropped. Scripts get every listing as ``--json`` (one object per line) and reports as ``--csv``
with the same ISO 8601 times as the tables; ``-`` as a file name means standard output.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

STDOUT = "-"
FullIdsOption = typer.Option(
    False, "--full-ids", help="Show ids and hashes in full, even if the table has to wrap."
)
JsonLinesOption = typer.Option(False, "--json", help="Print JSON lines instead of a table.")
JsonObjectOption = typer.Option(False, "--json", help="Print one JSON object instead of a table.")

Cell = str | Text


def stdout(*, markup: bool = True) -> Console:
    """A console for results, as wide as the terminal. Output that goes to no terminal (a pipe,
    a file) is at least 240 columns wide, so that redirected tables keep ids and hashes whole
    for ``grep``; :func:`fit_table` fits a table to either. With markup, callers escape what
    they did not write themselves."""
    if sys.stdout.isatty():
        return Console(highlight=False, markup=markup)
    width = max(shutil.get_terminal_size((240, 24)).columns, 240)
    return Console(width=width, highlight=False, markup=markup)


def plain() -> Console:
    """:func:`stdout` without markup, what the commands print with: their output holds file
    names, policies and institution names, and rich would swallow ``[x]`` in them."""
    return stdout(markup=False)


def when(seconds: int | None) -> str:
    """Unix seconds → ``2026-11-26T05:40:12Z`` (ISO 8601, UTC), ``-`` for none: the same text
    in tables, JSON and CSV."""
    if not seconds:
        return "-"
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(value: str | None, keep: int = 10) -> str:
    """``0x1234…abcd`` for wide hex values in narrow columns (commands accept it back)."""
    if not value:
        return "-"
    if len(value) <= 2 * keep + 1:
        return value
    return f"{value[:keep]}…{value[-4:]}"


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    """One column of a listing.

    ``kind``: ``id``, the id people pass back to other commands (shortened only when dropping
    the least useful columns was not enough, and never with ``--full-ids``); ``hex``, another
    long hex value (shortened first); ``address``, kept whole (people compare addresses),
    folded last; ``text``. ``drop``: columns go highest first when the table does not fit,
    those of 4 and above before the ids are shortened, 1 to 3 after; 0 never goes (the id,
    the decision). ``wrap``: the text may fold over several lines as a last resort.
    """

    name: str
    kind: str = "text"
    drop: int = 0
    wrap: bool = True
    justify: str = "left"


def fit_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str,
    full_ids: bool = False,
    console: Console | None = None,
) -> Table:
    """The table of ``rows``, made to fit ``console``'s width (see :class:`Column`): hex
    shortened, then the columns of ``drop`` >= 4 dropped, then the ids shortened, then the
    other droppable columns dropped, then text folded."""
    console = console or plain()
    rows = [list(r) for r in rows]
    shown = list(range(len(columns)))
    shortened: set[str] = set()

    def build(folding: bool = False) -> Table:
        table = Table(title=title)
        for i in shown:
            col = columns[i]
            fold = folding and (col.wrap or col.kind in ("id", "hex", "address"))
            table.add_column(
                col.name,
                no_wrap=not fold,
                overflow="fold",
                justify=col.justify,  # type: ignore[arg-type]
            )
        for row in rows:
            table.add_row(*(_cell(row[i], columns[i], shortened) for i in shown))
        return table

    def fits() -> bool:
        # measured without the console's limit (a measurement is clamped to it)
        measured = Measurement.get(console, console.options.update_width(1_000_000), build())
        return measured.maximum <= console.width

    def drop_down_to(floor: int) -> bool:
        droppable = [i for i in shown if columns[i].drop >= floor]
        for i in sorted(droppable, key=lambda i: -columns[i].drop):
            shown.remove(i)
            if fits():
                return True
        return False

    if fits():
        return build()
    shortened.add("hex")
    if fits() or drop_down_to(4):
        return build()
    if not full_ids:
        shortened.add("id")
        if fits():
            return build()
    if drop_down_to(1):
        return build()
    return build(folding=True)


def _cell(value: Cell, column: Column, shortened: set[str]) -> Cell:
    if column.kind in shortened and isinstance(value, str) and value.startswith("0x"):
        return short(value)
    return value


# ----------------------------------------------------------------------------- JSON, CSV


def json_lines(items: Iterable[Mapping[str, Any]]) -> None:
    """One JSON object per line on stdout (``jq -c``-friendly; what ``--json`` prints)."""
    for item in items:
        typer.echo(json.dumps(item, ensure_ascii=False, default=str))


def json_object(item: Mapping[str, Any]) -> None:
    typer.echo(json.dumps(item, ensure_ascii=False, indent=2, default=str))


def write_csv(target: Path, fields: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` as CSV to ``target`` (``-``: stdout); returns the number of rows.

    A file is written whole to a temporary name and renamed: a report is complete or absent.
    """
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    if is_stdout(target):
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
        return count
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    tmp.replace(target)
    return count


def is_stdout(target: Path | str | None) -> bool:
    return target is not None and str(target) == STDOUT
