"""Log-based capture from PostgreSQL: logical decoding with the ``pgoutput`` plugin (psycopg).

Changes are read through the SQL interface (``pg_logical_slot_peek_binary_changes`` with
``proto_version 1`` and a publication of the captured table), which psycopg 3 speaks without
a replication connection; the slot is advanced (``pg_replication_slot_advance``) only after
the gateway committed a transaction's results locally, and a transaction whose end LSN is at
or below the saved position is skipped, so a crash between the two repeats nothing. Decoding
is in commit order, so late commits with old timestamps are never missed.

``check`` names what the server needs: ``wal_level = logical`` (a restart), free
``max_replication_slots``, and a role with ``REPLICATION`` that owns the table (to create the
publication). The pgoutput message format is PostgreSQL's "Logical Replication Message
Formats" (protocol version 1); :func:`parse_messages` implements the messages we use.
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
from collections.abc import Iterator
from typing import Any

import psycopg
import sqlalchemy as sa

from clients.gateway.capture.base import Batch, Change
from clients.gateway.config.model import Connection
from clients.gateway.connectors.sql import engine_for, jsonable, row_dict, select_rows
from clients.gateway.errors import CaptureError, CaptureSettingError
from clients.gateway.store import Store

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_CHANGES = 5000
INT_OIDS = {20, 21, 23, 26}
FLOAT_OIDS = {700, 701}
TIMESTAMP_OIDS = {1114, 1184}


def lsn_int(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _convert(oid: int, text: str | None) -> Any:
    if text is None:
        return None
    if oid in INT_OIDS:
        return int(text)
    if oid in FLOAT_OIDS:
        return float(text)
    if oid == 1700:
        return jsonable(decimal.Decimal(text))
    if oid == 16:
        return text == "t"
    if oid in TIMESTAMP_OIDS:
        return jsonable(dt.datetime.fromisoformat(text))
    if oid == 1082:
        return text
    return text


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.i = data, 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self.data, self.i)
        self.i += size
        return values[0] if len(values) == 1 else values

    def string(self) -> str:
        end = self.data.index(b"\0", self.i)
        text = self.data[self.i : end].decode("utf-8")
        self.i = end + 1
        return text

    def tuple(self) -> list[str | None]:
        out: list[str | None] = []
        for _ in range(self.take(">h")):
            kind = self.take(">c")
            if kind == b"t":
                length = self.take(">i")
                out.append(self.data[self.i : self.i + length].decode("utf-8"))
                self.i += length
            else:  # n (null) or u (unchanged TOAST: not in a FULL row image)
                out.append(None)
        return out


def parse_messages(
    rows: list[tuple[str, bytes]], relations: dict[int, Any]
) -> Iterator[tuple[str, Any]]:
    """(kind, payload) for each pgoutput message: B, C (end LSN), R, I and U (relation, row)."""
    for _lsn, data in rows:
        r = _Reader(bytes(data))
        kind = r.take(">c").decode()
        if kind == "B":
            _final_lsn, ts, _xid = r.take(">qqi")
            yield "B", PG_EPOCH + dt.timedelta(microseconds=ts)
        elif kind == "C":
            _flags, _commit_lsn, end_lsn, _ts = r.take(">bqqq")
            yield "C", end_lsn
        elif kind == "R":
            oid = r.take(">i")
            namespace, name = r.string(), r.string()
            r.take(">b")
            columns = []
            for _ in range(r.take(">h")):
                r.take(">b")
                col = r.string()
                type_oid, _mod = r.take(">ii")
                columns.append((col, type_oid))
            relations[oid] = (namespace, name, columns)
            yield "R", oid
        elif kind in ("I", "U"):
            oid = r.take(">i")
            marker = r.take(">c")
            if marker in (b"K", b"O"):
                r.tuple()
                marker = r.take(">c")
            values = r.tuple()
            _ns, name, columns = relations[oid]
            row = {col: _convert(t, v) for (col, t), v in zip(columns, values, strict=True)}
            yield ("I" if kind == "I" else "U"), (name, row)


class PgOutputSource:
    def __init__(self, connection: Connection, table: str, store: Store, *, slot: str) -> None:
        self.name = f"{connection.name}.{table}"
        self.table = table
        self.key = connection.tables[table].key
        self.store = store
        self.engine = engine_for(connection.resolved_url())
        url = sa.engine.make_url(connection.resolved_url()).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.slot = slot[:63]
        self.publication = slot[:63]
        self._relations: dict[int, Any] = {}

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise CaptureError(f"{self.name}: {exc}") from None

    def check(self) -> None:
        with self._connect() as conn:
            level = conn.execute("SHOW wal_level").fetchone()[0]  # type: ignore[index]
            if level != "logical":
                raise CaptureSettingError(
                    f"{self.name}: log-based capture needs wal_level = logical in "
                    f"postgresql.conf (it is {level}; a restart is needed), or declare "
                    "capture.mode: watermark"
                )
            slots = int(conn.execute("SHOW max_replication_slots").fetchone()[0])  # type: ignore[index]
            if slots < 1:
                raise CaptureSettingError(f"{self.name}: set max_replication_slots >= 1")

    def _ensure(self, conn: psycopg.Connection[Any]) -> bool:
        """Create the publication and slot if missing; True if the slot is new."""
        if not conn.execute(
            "SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,)
        ).fetchone():
            conn.execute(f'CREATE PUBLICATION "{self.publication}" FOR TABLE "{self.table}"')
        if conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
        ).fetchone():
            return False
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (self.slot,))
        return True

    def poll(self, position: Any) -> Iterator[Batch]:
        try:
            with self._connect() as conn:
                self._ensure(conn)
                if position is None:  # first start: the table as it is, then the stream
                    yield from self._snapshot()
                    position = {"lsn": "0/0"}
                    yield Batch([], position)
                done = lsn_int(position["lsn"])
                rows = conn.execute(
                    "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes("
                    "%s, NULL, %s, 'proto_version', '1', 'publication_names', %s)",
                    (self.slot, MAX_CHANGES, self.publication),
                ).fetchall()
                changes: list[Change] = []
                committed: dt.datetime | None = None
                for kind, payload in parse_messages(rows, self._relations):
                    if kind == "B":
                        committed, changes = payload, []
                    elif kind in ("I", "U") and payload[0] == self.table:
                        row = payload[1]
                        changes.append(
                            Change(
                                self.table,
                                str(row[self.key]),
                                row,
                                "insert" if kind == "I" else "update",
                            )
                        )
                    elif kind == "C":
                        end = int(payload)
                        if end > done:
                            batch = [
                                Change(c.table, c.key, c.row, c.op, committed) for c in changes
                            ]
                            yield Batch(batch, {"lsn": lsn_text(end)})
                            done = end
                        conn.execute(
                            "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)",
                            (self.slot, lsn_text(end)),
                        )
                        changes = []
        except psycopg.Error as exc:
            raise CaptureError(f"{self.name}: logical decoding: {exc}") from None

    def _snapshot(self) -> Iterator[Batch]:
        q = self.engine.dialect.identifier_preparer.quote
        with self.engine.connect() as conn:
            rows = conn.execute(select_rows(self.engine, self.table, None, q(self.key))).fetchall()
            conn.rollback()
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            yield Batch(
                [
                    Change(self.table, str(r._mapping[self.key]), row_dict(r), "snapshot")
                    for r in chunk
                ],
                None,
            )

    def drop(self) -> None:
        """Remove the slot and publication (a slot left behind keeps WAL forever)."""
        with self._connect() as conn:
            if conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
            ).fetchone():
                conn.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
            conn.execute(f'DROP PUBLICATION IF EXISTS "{self.publication}"')

    def close(self) -> None:
        pass
