"""One holder at a time (``ledger_api.services.leader``), on SQLite and PostgreSQL.

A second process never wins while the first holds; when the first dies (its lease not
renewed on SQLite, its connection gone on PostgreSQL), the second takes over quickly; a
terminated PostgreSQL backend makes the holder step down instead of believing it still leads.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from ledger_api.services.leader import Leadership, advisory_key
from storage.db import create_engine, migrate


def test_one_holder_and_takeover(database_url: str) -> None:
    migrate(database_url)
    first_engine, second_engine = create_engine(database_url), create_engine(database_url)
    try:
        first = Leadership(first_engine, "indexer:test", lease_seconds=1.0, holder="first")
        second = Leadership(second_engine, "indexer:test", lease_seconds=1.0, holder="second")
        assert first.acquire()
        assert not second.acquire()
        assert first.acquire()  # renewing is fine
        assert not second.acquire()
        # the holder dies without releasing: its connection closes (PostgreSQL) or its lease
        # runs out (SQLite)
        first._drop_connection()
        deadline = time.monotonic() + 5
        while not second.acquire():
            assert time.monotonic() < deadline, "no takeover"
            time.sleep(0.1)
        assert second.held
        second.release()
        assert first.acquire()  # a clean release hands it over at once
        first.release()
    finally:
        first_engine.dispose()
        second_engine.dispose()


def test_other_names_are_independent(database_url: str) -> None:
    migrate(database_url)
    engine = create_engine(database_url)
    try:
        a = Leadership(engine, "indexer:a", holder="x")
        b = Leadership(engine, "indexer:b", holder="y")
        assert a.acquire()
        assert b.acquire()
        a.release()
        b.release()
    finally:
        engine.dispose()


def test_a_terminated_backend_steps_the_holder_down(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        return  # SQLite has no backends to terminate; the lease test above covers it
    migrate(database_url)
    engine, killer = create_engine(database_url), create_engine(database_url)
    try:
        holder = Leadership(engine, "indexer:kill", holder="victim")
        assert holder.acquire()
        assert holder._conn is not None
        pid = holder._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        holder._conn.commit()
        with killer.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        time.sleep(0.2)
        standby = Leadership(killer, "indexer:kill", holder="standby")
        assert standby.acquire()  # the lock died with the backend
        assert not holder.acquire()  # and the old holder notices instead of working on
        standby.release()
        assert advisory_key("a") != advisory_key("b")
    finally:
        engine.dispose()
        killer.dispose()
