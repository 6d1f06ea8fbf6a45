"""SQLite never refuses a write: 16 read-then-write writers plus the real indexer.

The full 30 s run is ``scripts/sqlite_writers.py``; here the same workload runs for 15 s on
the session anvil. Before the lazy ``BEGIN IMMEDIATE`` discipline this workload gave
thousands of ``database is locked`` in a few seconds and the indexer none of its commits.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

from ledger_api.chain.anvil import AnvilProcess
from storage.db import create_engine, migrate, session_factory
from storage.models import RateLimitHit

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    path = ROOT / "scripts" / "sqlite_writers.py"
    spec = importlib.util.spec_from_file_location("sqlite_writers", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_sixteen_writers_and_the_indexer_are_never_refused(
    anvil: AnvilProcess, tmp_path: Path
) -> None:
    outcome = _script().run(
        rpc_url=anvil.url, database=tmp_path / "index.db", writers=16, seconds=15.0
    )
    assert outcome.locked == 0, outcome.samples
    assert outcome.errors == 0, outcome.samples
    assert outcome.writes > 1_000
    assert outcome.indexer_commits > 20  # the indexer was not starved of the write lock


def test_a_read_then_write_transaction_survives_a_commit_in_between(tmp_path: Path) -> None:
    """The exact interleaving that used to fail at once: A reads, B commits, A writes."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    migrate(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        with sessions() as a:
            assert a.get(RateLimitHit, ("x", 0)) is None  # A holds a read snapshot
            done = threading.Event()

            def other() -> None:
                with sessions() as b:
                    b.add(RateLimitHit(bucket="y", window_start=0, hits=1))
                    b.commit()
                done.set()

            thread = threading.Thread(target=other)
            thread.start()
            assert done.wait(10)  # B was not blocked by A's read
            thread.join()
            a.add(RateLimitHit(bucket="x", window_start=0, hits=1))
            a.commit()  # A's snapshot is stale: restarted as BEGIN IMMEDIATE, not refused
        with sessions() as check:
            assert check.scalar(sa.select(sa.func.count()).select_from(RateLimitHit)) == 2
    finally:
        engine.dispose()


def test_a_savepoint_after_reads_keeps_its_meaning(tmp_path: Path) -> None:
    """A nested transaction rolled back undoes only its own writes."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    migrate(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        with sessions() as db:
            db.scalar(sa.select(sa.func.count()).select_from(RateLimitHit))
            db.add(RateLimitHit(bucket="kept", window_start=0, hits=1))
            db.flush()
            nested = db.begin_nested()
            db.add(RateLimitHit(bucket="undone", window_start=0, hits=1))
            db.flush()
            nested.rollback()
            db.commit()
        with sessions() as check:
            assert check.scalars(sa.select(RateLimitHit.bucket)).all() == ["kept"]
    finally:
        engine.dispose()


def test_read_only_transactions_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    """WAL readers stay cheap: a read runs while another connection holds the write lock."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    migrate(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        with sessions() as writer:
            writer.add(RateLimitHit(bucket="w", window_start=0, hits=1))
            writer.flush()  # BEGIN IMMEDIATE: the write lock is held until commit
            result: list[int] = []
            thread = threading.Thread(
                target=lambda: result.append(
                    sessions().scalar(sa.select(sa.func.count()).select_from(RateLimitHit))
                )
            )
            thread.start()
            thread.join(5)
            assert result == [0]
            writer.commit()
    finally:
        engine.dispose()
