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


# --- content addressing and block stores (storage.cid, storage.blocks, storage.kubo) ---


class InvalidCidError(StorageError, ValueError):
    """A CID cannot be parsed, or is not CIDv1 sha2-256 with the raw or dag-pb codec."""


class MalformedBlockError(StorageError):
    """A dag-pb / UnixFS block does not decode (bad protobuf, wrong field order, not a file)."""


class IntegrityError(StorageError):
    """A block's bytes do not hash to the CID it is stored under: corruption or tampering."""


class BlockNotFoundError(StorageError, KeyError):
    """The store holds no block for this CID (or a block of the DAG below it is missing)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "block not found"


class NotPinnedError(StorageError):
    """Unpinning a CID that is not pinned (recursively) in this store."""


class KuboError(StorageError):
    """The Kubo RPC API answered with an error, or with something not of its documented shape."""


class KuboUnavailableError(KuboError):
    """Kubo cannot be reached (refused, timeouts, 5xx) even after the bounded retries."""


class CidMismatchError(KuboError, IntegrityError):
    """Kubo returned a CID different from the one computed locally for the same bytes."""


# Short names used in the design notes and the issue text.
BlockNotFound = BlockNotFoundError
KuboUnavailable = KuboUnavailableError
CidMismatch = CidMismatchError
