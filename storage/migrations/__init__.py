"""Alembic migrations of the relational index (run with :func:`storage.db.migrate`)."""
