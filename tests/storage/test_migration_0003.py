"""0003 adds ``records.record_date`` to an index that already holds records, and takes it away.

An index in production is upgraded in place: the rows shared before the upgrade must survive
it untouched, with no clinical date (NULL), and new rows take one. Runs on every backend under
test (SQLite always, PostgreSQL when ``MEDLEDGER_TEST_POSTGRES_URL`` is set).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from storage import db

RECORD = {
    "record_id": "0x" + "11" * 32,
    "patient": "0x" + "22" * 20,
    "author": "0x" + "33" * 20,
    "author_institution": 1,
    "body_cid": "bafybody",
    "header_cid": "bafyheader",
    "body_sha256": "0x" + "44" * 32,
    "policy_hash": "0x" + "55" * 32,
    "record_type": "0x" + "4f62736572766174696f6e".ljust(64, "0"),
    "version": 1,
    "status": "active",
    "state": "confirmed",
    "created_at": "2026-11-26 00:00:00",
    "updated_at": "2026-11-26 00:00:00",
}


def _columns(engine: sa.Engine) -> set[str]:
    with engine.connect() as connection:
        return {c["name"] for c in sa.inspect(connection).get_columns("records")}


def test_0003_upgrade_keeps_rows_and_adds_a_null_record_date(database_url: str) -> None:
    db.migrate(database_url, revision="0002")
    engine = db.create_engine(database_url)
    try:
        assert "record_date" not in _columns(engine)
        records = sa.table("records", *(sa.column(name) for name in RECORD))
        with engine.begin() as connection:
            connection.execute(sa.insert(records), [RECORD])

        db.migrate(database_url, revision="0003")
        assert db.current_revision(engine) == "0003"
        assert "record_date" in _columns(engine)
        with engine.begin() as connection:
            row = connection.execute(
                sa.text("SELECT record_id, body_cid, record_date FROM records")
            ).one()
            assert tuple(row) == (RECORD["record_id"], "bafybody", None)
            connection.execute(
                sa.text("UPDATE records SET record_date = :d"), {"d": "2026-11-20T08:30:00+08:00"}
            )
            assert connection.scalar(sa.text("SELECT record_date FROM records")) == (
                "2026-11-20T08:30:00+08:00"
            )

        with engine.begin() as connection:
            config = db.alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
        assert "record_date" not in _columns(engine)
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT body_cid FROM records")) == "bafybody"
    finally:
        engine.dispose()
