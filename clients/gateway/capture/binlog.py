"""Log-based capture from MariaDB/MySQL: the binary log in ROW format (``mysql-replication``).

The binlog is in commit order, so a row committed late with an old timestamp still arrives
after what was committed before it: nothing to miss. ``check`` names the server settings this
needs (``log_bin``, ``binlog_format=ROW``, ``binlog_row_image=FULL``,
``binlog_row_metadata=FULL`` so rows carry column names) and the account's privileges
(``REPLICATION SLAVE, REPLICATION CLIENT``). Positions are saved at transaction boundaries
(after the ``XID`` event), so a resumed stream never starts inside a transaction.

On first start (no saved position) the source records the current binlog position, reads
the table as it is (a snapshot, in key order), then streams from that position; a row in
both is staged once (the sink deduplicates by record id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa

from clients.gateway.capture.base import Batch, Change
from clients.gateway.config.model import Connection
from clients.gateway.connectors.sql import engine_for, jsonable, row_dict, select_rows
from clients.gateway.errors import CaptureError, CaptureSettingError
from clients.gateway.store import Store

REQUIRED = {
    "log_bin": ("ON", "log_bin = ON (log-bin in my.cnf)"),
    "binlog_format": ("ROW", "binlog_format = ROW"),
    "binlog_row_image": ("FULL", "binlog_row_image = FULL"),
    "binlog_row_metadata": ("FULL", "binlog_row_metadata = FULL"),
}
SNAPSHOT_PAGE = 1000


class BinlogSource:
    def __init__(self, connection: Connection, table: str, store: Store, *, server_id: int) -> None:
        self.name = f"{connection.name}.{table}"
        self.table = table
        self.key = connection.tables[table].key
        self.store = store
        url = sa.engine.make_url(connection.resolved_url())
        self.engine = engine_for(connection.resolved_url())
        self.schema = url.database or ""
        self.settings = {
            "host": url.host or "127.0.0.1",
            "port": url.port or 3306,
            "user": url.username or "root",
            "password": unquote(url.password or ""),
        }
        self.server_id = server_id

    def check(self) -> None:
        with self.engine.connect() as conn:
            found = {
                str(name).lower(): str(value).upper()
                for name, value in conn.exec_driver_sql(
                    "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
                    "('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata')"
                )
            }
        for name, (wanted, advice) in REQUIRED.items():
            if found.get(name) != wanted:
                raise CaptureSettingError(
                    f"{self.name}: log-based capture needs {advice} on the MariaDB/MySQL "
                    f"server (it is {found.get(name, 'unset')}); or declare capture.mode: watermark"
                )

    def _master_position(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql("SHOW MASTER STATUS").first()
        if row is None:
            raise CaptureSettingError(f"{self.name}: SHOW MASTER STATUS is empty: is log_bin on?")
        return {"file": row[0], "pos": int(row[1])}

    def poll(self, position: Any) -> Iterator[Batch]:
        if position is None:
            start = self._master_position()
            yield from self._snapshot(start)
            position = start
        yield from self._stream(position)

    def _snapshot(self, start: dict[str, Any]) -> Iterator[Batch]:
        q = self.engine.dialect.identifier_preparer.quote
        last: Any = None
        with self.engine.connect() as conn:
            while True:
                where = None if last is None else f"{q(self.key)} > :last"
                stmt = select_rows(self.engine, self.table, where, q(self.key), SNAPSHOT_PAGE)
                rows = conn.execute(stmt, {"last": last} if last is not None else {}).fetchall()
                conn.rollback()
                if not rows:
                    break
                last = rows[-1]._mapping[self.key]
                changes = [
                    Change(self.table, str(r._mapping[self.key]), row_dict(r), "snapshot")
                    for r in rows
                ]
                # the position stays "before the snapshot" until the snapshot is done
                yield Batch(changes, None)
        yield Batch([], start)

    def _stream(self, position: dict[str, Any]) -> Iterator[Batch]:
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.event import XidEvent
        from pymysqlreplication.row_event import UpdateRowsEvent, WriteRowsEvent

        stream = BinLogStreamReader(
            connection_settings=self.settings,
            server_id=self.server_id,
            only_events=[WriteRowsEvent, UpdateRowsEvent, XidEvent],
            only_tables=[self.table],
            only_schemas=[self.schema],
            resume_stream=True,
            log_file=position["file"],
            log_pos=int(position["pos"]),
            blocking=False,
        )
        changes: list[Change] = []
        try:
            for event in stream:
                if isinstance(event, XidEvent):
                    committed = dt.datetime.fromtimestamp(event.timestamp, dt.UTC)
                    batch = [Change(c.table, c.key, c.row, c.op, committed) for c in changes]
                    changes = []
                    yield Batch(batch, {"file": stream.log_file, "pos": int(event.packet.log_pos)})
                    continue
                op = "insert" if isinstance(event, WriteRowsEvent) else "update"
                for row in event.rows:
                    values = row.get("values") if op == "insert" else row.get("after_values")
                    data = {str(k): jsonable(v) for k, v in (values or {}).items()}
                    if self.key not in data:
                        raise CaptureSettingError(
                            f"{self.name}: binlog rows carry no column names: set "
                            "binlog_row_metadata = FULL"
                        )
                    changes.append(Change(self.table, str(data[self.key]), data, op))
        except CaptureError:
            raise
        except Exception as exc:  # pymysql and pymysqlreplication raise their own classes
            raise CaptureError(f"{self.name}: binlog stream: {type(exc).__name__}: {exc}") from None
        finally:
            stream.close()

    def close(self) -> None:
        pass
