"""Errors of the ``storage`` package; every one derives from :class:`StorageError`."""


class StorageError(Exception):
    """Root of every error raised by ``storage``."""
