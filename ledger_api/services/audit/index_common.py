"""The comparisons every index-versus-chain check is made of, one chunk of blocks at a time.

Index rows come in two shapes, and each has one generic check here:

- **append-only rows**, one per event (access events, key issuances, workflow transitions,
  opinions), keyed by ``(tx_hash, log_index)``: :meth:`IndexComparer.positional` matches the
  chunk's events with the rows whose block lies in the chunk, both ways;
- **state rows**, created by one event and updated by later ones (referrals, consultations,
  break-glass openings, institutions, members), each carrying the position of the last event
  applied to it (``updated_block``, ``updated_log_index``, which the indexer guards every
  write with): :meth:`IndexComparer.tracked`. The creation event's fixed fields are compared
  with the row; then the chunk's events of that row are folded in chain order, and where the
  row claims to stand (its position) the folded state must equal the row, field by field.
  A row standing before an event of the chunk missed that event; a row claiming to stand at
  an event of the chunk that is not one of its own, or created in the chunk by nothing, is
  not on chain.

Rows are read per chunk (by the ids of the chunk's events, and by block range for rows the
chain knows nothing of), so memory follows the chunk, not the range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.indexer.decode import ChainEvent
from ledger_api.services.audit.report import VerifyReport

__all__ = ["IndexComparer", "Pairs", "Tracked", "id_chunks"]

ID_CHUNK = 500

Pairs = list[tuple[str, Any, Any]]
Values = Callable[[ChainEvent], dict[str, Any]]
Derived = Callable[[Session, list[Any]], dict[Any, dict[str, Any]]]


def id_chunks(values: Sequence[Any], size: int = ID_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _at(position: tuple[int, int]) -> str:
    return f"{position[0]}:{position[1]}"


@dataclass(frozen=True)
class Tracked:
    """How a state row mirrors its events.

    ``fixed(creation event)`` are the columns set once; ``states[event name](event)`` the
    columns an event determines (what it leaves alone is not compared at that event);
    ``derived(db, keys)`` reads values kept in child tables (``{key: {column: value}}``),
    compared like columns.
    """

    kind: str
    model: Any
    key: str
    key_arg: str
    creation: str
    fixed: Values
    states: Mapping[str, Values]
    derived: Derived | None = None
    checked_as: str = ""


class IndexComparer:
    """Reports each difference between chain and index into ``report.index_vs_chain``."""

    def __init__(self, db: Session, report: VerifyReport) -> None:
        self.db = db
        self.report = report

    def problem(self, kind: str, key: Any, problem: str, **extra: Any) -> None:
        self.report.index_vs_chain.append({"kind": kind, "key": key, "problem": problem, **extra})

    def compare(self, kind: str, key: Any, pairs: Iterable[tuple[str, Any, Any]]) -> None:
        for name, on_chain, in_index in pairs:
            if on_chain != in_index:
                self.problem(
                    kind, key, "field_mismatch", field=name, chain=on_chain, index=in_index
                )

    def rows(self, model: Any, column: Any, ids: list[Any]) -> dict[Any, Any]:
        """Rows of ``model`` whose ``column`` is one of ``ids``, by that value."""
        found: dict[Any, Any] = {}
        for chunk in id_chunks(ids):
            for row in self.db.scalars(sa.select(model).where(column.in_(chunk))):
                found[getattr(row, column.key)] = row
        return found

    # ------------------------------------------------------------------ append-only rows

    def positional(
        self,
        kind: str,
        model: Any,
        events: Sequence[ChainEvent],
        low: int,
        high: int,
        pairs_of: Callable[[ChainEvent, Any], Pairs],
    ) -> None:
        """Append-only events, keyed by (tx hash, log index), against the chunk's rows."""
        rows = {
            (row.tx_hash, row.log_index): row
            for row in self.db.scalars(
                sa.select(model).where(model.block_number.between(low, high))
            )
        }
        for e in events:
            row = rows.pop((e.tx_hash, e.log_index), None)
            label = f"{e.tx_hash}:{e.log_index}"
            if row is None:
                self.problem(kind, label, "missing_in_index", block_number=e.block_number)
                continue
            self.compare(kind, label, pairs_of(e, row))
        for (tx_hash, log_index), row in rows.items():
            self.problem(
                kind, f"{tx_hash}:{log_index}", "not_on_chain", block_number=row.block_number
            )
        self.report.count(kind + "s", len(events))

    # ------------------------------------------------------------------ state rows

    def tracked(self, spec: Tracked, events: Sequence[ChainEvent], low: int, high: int) -> None:
        """One kind of state row against the chunk's events (see the module docstring)."""
        mine: dict[Any, list[ChainEvent]] = {}
        created = 0
        for e in events:
            if e.name in spec.states:
                mine.setdefault(e.args[spec.key_arg], []).append(e)
                created += e.name == spec.creation
        model = spec.model
        rows = self.rows(model, getattr(model, spec.key), list(mine))
        in_chunk = sa.or_(
            model.updated_block.between(low, high), model.block_number.between(low, high)
        )
        for row in self.db.scalars(sa.select(model).where(in_chunk)):
            rows.setdefault(getattr(row, spec.key), row)
        derived = spec.derived(self.db, list(rows)) if spec.derived and rows else {}
        for key, evs in mine.items():
            if key not in rows:
                self.problem(spec.kind, key, "missing_in_index", block_number=evs[0].block_number)
        for key, row in rows.items():
            self._state_row(spec, key, row, mine.get(key, []), derived.get(key, {}), low, high)
        self.report.count(spec.checked_as or spec.kind + "s", created)

    def _state_row(
        self,
        spec: Tracked,
        key: Any,
        row: Any,
        events: list[ChainEvent],
        derived: dict[str, Any],
        low: int,
        high: int,
    ) -> None:
        def pairs(values: dict[str, Any]) -> Pairs:
            return [
                (col, v, derived[col] if col in derived else getattr(row, col))
                for col, v in values.items()
            ]

        creations = [e for e in events if e.name == spec.creation]
        if creations:
            self.compare(spec.kind, key, pairs(spec.fixed(creations[-1])))
        elif low <= row.block_number <= high:  # created here, says the index; not on chain
            self.problem(spec.kind, key, "not_on_chain", block_number=row.block_number)
        pointer = (row.updated_block, row.updated_log_index)
        state: dict[str, Any] = {}
        matched = False
        for e in events:
            state.update(spec.states[e.name](e))
            if e.position == pointer:
                self.compare(spec.kind, key, pairs(state))
                matched = True
        if events and pointer < events[-1].position:
            self.problem(
                spec.kind,
                key,
                "missed_event",
                field="last_event",
                chain=_at(events[-1].position),
                index=_at(pointer),
                event=events[-1].name,
            )
        elif not matched and low <= row.updated_block <= high:
            self.problem(
                spec.kind, key, "state_not_on_chain", field="last_event", index=_at(pointer)
            )
