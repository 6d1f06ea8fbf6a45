"""What every change-capture source produces: batches of changes with a resume position.

A source yields :class:`Batch` objects; the pipeline handles every change of a batch and then
saves ``batch.position`` in the same local transaction as its results, so that after a crash
the source resumes exactly after the last batch whose results were kept. Log-based sources
batch by transaction (their positions are transaction boundaries); the watermark source
batches by query page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Change:
    table: str
    key: str
    row: dict[str, Any]
    op: str = "insert"  # insert | update
    committed_at: dt.datetime | None = None  # when the database committed it, if known


@dataclass
class Batch:
    changes: list[Change]
    position: Any  # JSON-serialisable; saved with the results
    emitted: list[tuple[str, str, str | None]] = field(default_factory=list)  # (table, key, ts)


class Source(Protocol):
    name: str

    def check(self) -> None:
        """Raise :class:`CaptureSettingError` naming what the database must change."""

    def poll(self, position: Any) -> Iterator[Batch]:
        """Batches available now after ``position`` (None: from the start)."""

    def close(self) -> None: ...
