"""Errors of the ``crypto`` package; every one derives from :class:`CryptoError`."""


class CryptoError(Exception):
    """Root of every error raised by ``crypto``."""


class SigningError(CryptoError):
    """A typed-data or Sign-In with Ethereum message is malformed, or its signature is invalid."""
