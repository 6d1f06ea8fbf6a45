"""Read requests (``contracts/src/AccessLog.sol``): the reader's signature over what it asks.

A client signs a :class:`ReadRequest` (domain "MedLedger AccessLog") when it asks the API for
a record's header, body or metadata. The API accepts it only shortly after ``issuedAt`` and
refuses a ``nonce`` it has seen, and the request and its signature go into the record's
``AccessLogged`` event unverified (an ``ecrecover`` per entry would break the batch gas
budget). An auditor recovers the reader from chain data alone and compares it with the
event's accessor: the relayer cannot log a read nobody asked for.

Apps launched through the marketplace (SMART App Launch) hold no Ethereum key: the launching
user's client signs an :class:`AppReadRequest` for the app, the same request plus the app's
Marketplace listing id and :func:`~crypto.signing.marketplace.client_id_hash` of its OAuth
client id. Its entry goes on chain through ``logAppAccess``: the same ``AccessLogged`` (its
signature now over the ``AppReadRequest``) immediately followed by ``AppAccessLogged`` with
the two ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from crypto.signing.core import TypedMessage, eip712


class ReadPart(IntEnum):
    """Which part of a record a read asks for; the numbers are the event's ``part``."""

    HEADER = 0
    BODY = 1
    METADATA = 2


@dataclass(frozen=True, kw_only=True)
class ReadRequest(TypedMessage):
    """A reader's request for one part of one record, at ``issued_at``, once (``nonce``)."""

    CONTRACT: ClassVar[str] = "AccessLog"

    record_id: bytes = eip712("bytes32")
    part: ReadPart = eip712("uint8")  # noqa: RUF009 - eip712() is a dataclasses.field
    purpose: int = eip712("uint8")
    issued_at: int = eip712("uint64")
    nonce: int = eip712("uint64")


@dataclass(frozen=True, kw_only=True)
class AppReadRequest(TypedMessage):
    """A read an app asks for through the launching user, who signs it: a
    :class:`ReadRequest` plus the app's Marketplace listing id (``app_id``) and the keccak-256
    of its OAuth client id's UTF-8 bytes (``client_id``, see
    :func:`~crypto.signing.marketplace.client_id_hash`)."""

    CONTRACT: ClassVar[str] = "AccessLog"

    record_id: bytes = eip712("bytes32")
    part: ReadPart = eip712("uint8")  # noqa: RUF009 - eip712() is a dataclasses.field
    purpose: int = eip712("uint8")
    issued_at: int = eip712("uint64")
    nonce: int = eip712("uint64")
    app_id: bytes = eip712("bytes32")
    client_id: bytes = eip712("bytes32")

    def read_request(self) -> ReadRequest:
        """The plain request inside (what ``AccessLogged`` shows without the app's ids)."""
        return ReadRequest(
            record_id=self.record_id,
            part=self.part,
            purpose=self.purpose,
            issued_at=self.issued_at,
            nonce=self.nonce,
        )
