"""Issued cards and the clinicians' feedback on them, in SQLite under the data directory.

Every card the services return is recorded with its suggestions' uuids and the override
reasons it offered, so that feedback is checked against what was really shown: a card uuid
this service never issued (or another service issued) is refused, an accepted suggestion must
belong to the card, a coded override reason must be one the card offered. A feedback request
is validated whole and written in one transaction: nothing half-written. Sending the same
feedback again (same card, outcome and timestamp) is answered as before and stored once, so a
retrying client cannot inflate the override counts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clients.assistant.errors import FeedbackError, UnknownCardError

SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    uuid TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    hook_instance TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    suggestions TEXT NOT NULL,
    override_reasons TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    card TEXT NOT NULL REFERENCES cards(uuid),
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    accepted TEXT NOT NULL,
    reason_system TEXT,
    reason_code TEXT,
    user_comment TEXT,
    outcome_timestamp TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (card, outcome, outcome_timestamp)
);
"""
FUTURE_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class IssuedCard:
    uuid: str
    service: str
    hook_instance: str
    suggestions: tuple[str, ...]
    override_reasons: tuple[tuple[str, str], ...]


class FeedbackStore:
    """SQLite file ``feedback.db`` in ``directory`` (created on first use)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "feedback.db"
        self._lock = threading.Lock()
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10)
            try:
                with db:  # one transaction: committed on success, rolled back on error
                    yield db
            finally:
                db.close()

    def record_cards(self, cards: list[IssuedCard]) -> None:
        """Remember the cards of one response (before the response is sent)."""
        now = datetime.now(UTC).isoformat()
        with self._connect() as db:
            db.executemany(
                "INSERT INTO cards VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        c.uuid,
                        c.service,
                        c.hook_instance,
                        now,
                        json.dumps(list(c.suggestions)),
                        json.dumps([list(r) for r in c.override_reasons]),
                    )
                    for c in cards
                ],
            )

    def _card(self, db: sqlite3.Connection, service: str, uuid: str) -> IssuedCard:
        row = db.execute(
            "SELECT uuid, service, hook_instance, suggestions, override_reasons FROM cards "
            "WHERE uuid = ?",
            (uuid,),
        ).fetchone()
        if row is None or row[1] != service:
            raise UnknownCardError(f"service {service!r} issued no card {uuid!r}")
        return IssuedCard(
            row[0],
            row[1],
            row[2],
            tuple(json.loads(row[3])),
            tuple((s, c) for s, c in json.loads(row[4])),
        )

    def add_feedback(self, service: str, items: list[dict[str, Any]]) -> int:
        """Check and store every item of a (schema-valid) feedback body; the number stored."""
        now = datetime.now(UTC)
        rows = []
        with self._connect() as db:
            for index, item in enumerate(items):
                card = self._card(db, service, item["card"])
                accepted = [s["id"] for s in item.get("acceptedSuggestions", ())]
                stray = [s for s in accepted if s not in card.suggestions]
                if stray:
                    raise FeedbackError(
                        f"feedback[{index}]: suggestion {stray[0]!r} is not on card {card.uuid}"
                    )
                if item["outcome"] == "overridden" and accepted:
                    raise FeedbackError(f"feedback[{index}]: an overridden card accepts nothing")
                reason = (item.get("overrideReason") or {}).get("reason")
                if reason is not None:
                    if item["outcome"] != "overridden":
                        raise FeedbackError(f"feedback[{index}]: a reason needs outcome overridden")
                    if (reason["system"], reason["code"]) not in card.override_reasons:
                        raise FeedbackError(
                            f"feedback[{index}]: override reason {reason['code']!r} was not "
                            f"offered on card {card.uuid}"
                        )
                stamp = _timestamp(item["outcomeTimestamp"], index)
                if stamp > now + FUTURE_SKEW:
                    raise FeedbackError(f"feedback[{index}]: outcomeTimestamp is in the future")
                comment = (item.get("overrideReason") or {}).get("userComment")
                rows.append(
                    (
                        service,
                        card.uuid,
                        item["outcome"],
                        json.dumps(accepted),
                        reason and reason["system"],
                        reason and reason["code"],
                        comment,
                        stamp.isoformat(),
                        now.isoformat(),
                    )
                )
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO feedback (service, card, outcome, accepted, "
                "reason_system, reason_code, user_comment, outcome_timestamp, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return db.total_changes - before

    def feedback(self, service: str | None = None) -> list[dict[str, Any]]:
        """Stored feedback, oldest first (for audits and the transparency figures)."""
        query = (
            "SELECT service, card, outcome, accepted, reason_code, user_comment, "
            "outcome_timestamp FROM feedback"
        )
        args: tuple[str, ...] = ()
        if service is not None:
            query += " WHERE service = ?"
            args = (service,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        return [
            {
                "service": r[0],
                "card": r[1],
                "outcome": r[2],
                "accepted": json.loads(r[3]),
                "reasonCode": r[4],
                "userComment": r[5],
                "outcomeTimestamp": r[6],
            }
            for r in rows
        ]


def _timestamp(text: str, index: int) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FeedbackError(
            f"feedback[{index}]: outcomeTimestamp is not an ISO timestamp"
        ) from None
    if stamp.tzinfo is None:
        raise FeedbackError(f"feedback[{index}]: outcomeTimestamp needs a time zone (UTC)")
    return stamp.astimezone(UTC)
