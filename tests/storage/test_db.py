"""Engine set-up: URL resolution, SQLite pragmas, busy waiting, unreachable servers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledger_api.chain.anvil import free_port
from storage import db
from storage.errors import DatabaseConfigError, DatabaseUnavailableError, StorageError
from storage.models import Institution, Member

ADDRESS = "0x" + "ab" * 20
INSTITUTION = 1
TX = "0x" + "ee" * 32


def test_url_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(db.ENV_VAR, "sqlite:///from-env.db")
    assert db.resolve_url("sqlite:///from-arg.db").database == "from-arg.db"
    assert db.resolve_url().database == "from-env.db"


def test_default_is_local_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(db.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    url = db.resolve_url()
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(db.DEFAULT_SQLITE_PATH)
    assert (tmp_path / ".medledger").is_dir()


@pytest.mark.parametrize(
    "given", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg2://u@h/db"]
)
def test_postgres_urls_use_psycopg3(given: str) -> None:
    url = db.resolve_url(given)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.host, url.database) == ("u", "h", "db")


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "oracle://x", "not a url"])
def test_unsupported_or_malformed_url_is_refused(bad: str) -> None:
    with pytest.raises(DatabaseConfigError) as info:
        db.resolve_url(bad)
    assert isinstance(info.value, StorageError)


def test_environment_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(db.ENV_VAR, "mssql://x")
    with pytest.raises(DatabaseConfigError, match=db.ENV_VAR):
        db.create_engine()


def test_sqlite_connections_get_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'nested' / 'index.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_one_shared_database() -> None:
    engine = db.create_engine("sqlite://")
    try:
        db.migrate(engine)
        with db.session_factory(engine).begin() as session:
            session.add(_institution())
        with engine.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM institutions")).scalar()
        assert count == 1
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(_member(institution_id=99))
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Member)) == 0


def test_failed_transaction_leaves_nothing(sessions: sessionmaker[Session]) -> None:
    def add_twice() -> None:
        with sessions.begin() as session:
            session.add(_institution())
            session.flush()
            session.add(_institution())  # same primary key

    with pytest.raises(IntegrityError):
        add_twice()
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Institution)) == 0


def test_sqlite_second_writer_waits_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.db'}"
    db.migrate(url)
    first, second = db.create_engine(url), db.create_engine(url)
    released = threading.Event()

    def hold_write_lock() -> None:
        with first.begin() as connection:
            connection.execute(sa.insert(Institution), [_row(INSTITUTION)])
            time.sleep(0.5)
        released.set()

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    time.sleep(0.1)
    started = time.monotonic()
    try:
        with second.begin() as connection:
            connection.execute(sa.insert(Institution), [_row(2)])
        waited = time.monotonic() - started
        holder.join()
        assert released.is_set()
        assert waited >= 0.2  # it really waited for the first writer's lock
        with second.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM institutions")).scalar()
        assert count == 2
    finally:
        holder.join()
        first.dispose()
        second.dispose()


def test_unreachable_postgres_fails_fast_with_a_clear_error() -> None:
    engine = db.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    )
    with pytest.raises(DatabaseUnavailableError, match="cannot connect to postgresql"):
        db.check_connection(engine)


def test_check_connection_passes_on_a_live_database(engine: Engine) -> None:
    db.check_connection(engine)


def _row(institution_id: int) -> dict[str, object]:
    return {
        "institution_id": institution_id,
        "code": "0x" + f"{institution_id:064x}",
        "name": "成都市第三人民医院",
        "admin": ADDRESS,
        "active": True,
        "tx_hash": TX,
        "block_number": 1,
        "updated_block": 1,
        "updated_log_index": 0,
    }


def _institution() -> Institution:
    return Institution(**_row(INSTITUTION))


def _member(*, institution_id: int = INSTITUTION) -> Member:
    return Member(
        address=ADDRESS,
        institution_id=institution_id,
        role="doctor",
        tx_hash=TX,
        block_number=1,
        updated_block=1,
        updated_log_index=0,
    )


def test_postgres_fixture_fails_when_asked_for_but_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CI that sets MEDLEDGER_TEST_POSTGRES_URL must go red, not skip, without PostgreSQL."""
    from tests.storage.conftest import postgres_admin_engine

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    monkeypatch.setenv("MEDLEDGER_TEST_POSTGRES_URL", url)
    with pytest.raises(pytest.fail.Exception, match=r"set to .* but PostgreSQL is unreachable"):
        postgres_admin_engine()
