"""Failures of an institution authority's key file (:mod:`ledger_api.authority.keyfile`).

This module held the former central authority's key pair (``authority/mpk.cbor`` and
``msk.enc``, ``KeyAuthority``, ``init_authority``); they went with the API's central key in
issue 16 (``docs/key-authorities.md``). A data folder that still has those files is refused at
start-up (:func:`ledger_api.context.refuse_legacy_central_keys`). The error classes stay here,
under the name the command line's error table loads them by.
"""

from __future__ import annotations

from ledger_api.errors import LedgerApiError

__all__ = [
    "AuthorityError",
    "AuthorityExistsError",
    "AuthorityKeyMismatchError",
    "AuthorityNotFoundError",
    "AuthorityPassphraseError",
]


class AuthorityError(LedgerApiError):
    """Base class for failures of a key authority's files and keys."""


class AuthorityExistsError(AuthorityError):
    """``init`` found a key file already there (overwriting would orphan every record)."""


class AuthorityNotFoundError(AuthorityError):
    """The key file is missing."""


class AuthorityPassphraseError(AuthorityError):
    """The passphrase does not open the key file (or the file was altered)."""


class AuthorityKeyMismatchError(AuthorityError):
    """The key file's public and secret keys (or its signer) are readable but do not match."""
