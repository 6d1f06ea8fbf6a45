"""The schema comes only from migrations, and migrations and models agree on every backend."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage import db
from storage.errors import DatabaseUnavailableError, MigrationError
from storage.models import Base

ROOT = Path(__file__).resolve().parents[2]


def _head() -> str:
    head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    assert head is not None
    return head


def test_migrated_schema_matches_models(database_url: str) -> None:
    db.migrate(database_url)
    engine = db.create_engine(database_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}),
                Base.metadata,
            )
            tables = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_migrate_records_head_and_is_idempotent(database_url: str) -> None:
    db.migrate(database_url)
    db.migrate(database_url)
    engine = db.create_engine(database_url)
    try:
        assert db.current_revision(engine) == _head()
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_every_table(database_url: str) -> None:
    db.migrate(database_url)
    engine = db.create_engine(database_url)
    try:
        with engine.begin() as connection:
            config = db.alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        with engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
        assert db.current_revision(engine) is None
    finally:
        engine.dispose()


def test_empty_database_has_no_revision(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        assert db.current_revision(engine) is None
    finally:
        engine.dispose()


def test_unknown_revision_is_a_migration_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="nonexistent"):
        db.migrate(f"sqlite:///{tmp_path / 'x.db'}", revision="nonexistent")


def test_unreachable_postgres_is_reported(tmp_path: Path) -> None:
    from ledger_api.chain.anvil import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    with pytest.raises(DatabaseUnavailableError, match="cannot migrate"):
        db.migrate(url)


def test_migrations_ship_as_package_data() -> None:
    """Every file under storage/migrations is matched by pyproject's package-data globs."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["storage"]
    storage = ROOT / "storage"
    shipped = {p for pattern in globs for p in storage.glob(pattern)}
    wanted = {
        p
        for p in (storage / "migrations").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert wanted, "no migration files found"
    assert wanted - shipped == set()
