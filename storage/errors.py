"""Errors of the ``storage`` package; every one derives from :class:`StorageError`."""


class StorageError(Exception):
    """Root of every error raised by ``storage``."""


class DatabaseError(StorageError):
    """Base class for failures of the relational index (configuration, schema, values)."""


class DatabaseConfigError(DatabaseError):
    """The database URL is missing, malformed or names an engine MedLedger does not support."""


class DatabaseUnavailableError(DatabaseError):
    """The database server cannot be reached or refused the connection."""


class MigrationError(DatabaseError):
    """Bringing the schema to the requested revision failed; the transaction was rolled back."""


class InvalidColumnValueError(DatabaseError, ValueError):
    """A value cannot be stored in an index column (e.g. an address that is not 20 bytes)."""
