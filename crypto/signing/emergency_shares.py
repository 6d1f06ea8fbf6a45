"""A clinician's request for an authority's emergency decryption shares (``EmergencyKeys``).

Signed in the domain "MedLedger EmergencyKeys" by the opening's clinician. The contract does
not verify it: the authority does, before it releases anything (the chain then logs the
release with ``EmergencyKeys.releaseShares``). It binds:

- the opening (so only its clinician, as ``EmergencyAccess.openingOf`` names them, asks);
- the records (``records_hash = keccak256(id_1 ‖ … ‖ id_k)``, in the order asked);
- the authority asked (its signing account), so a request is not replayed to another;
- the X25519 key the shares are sealed to, so a copy of the response is useless to anyone
  but the requester;
- a deadline (the authority refuses one past, or more than :data:`MAX_REQUEST_LIFETIME` ahead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from eth_utils import keccak

from crypto.signing.core import TypedMessage, eip712

CONTRACT = "EmergencyKeys"
MAX_REQUEST_LIFETIME = 600


def records_hash(record_ids: Sequence[bytes]) -> bytes:
    """``keccak256(id_1 ‖ … ‖ id_k)`` of 32-byte record ids."""
    return keccak(b"".join(record_ids))


@dataclass(frozen=True, kw_only=True)
class EmergencyShareRequest(TypedMessage):
    """The opening's clinician asks ``authority`` for its shares of the records hashed."""

    CONTRACT: ClassVar[str] = CONTRACT

    opening_id: bytes = eip712("bytes32")
    records_hash: bytes = eip712("bytes32")
    authority: str = eip712("address")
    recipient_key: bytes = eip712("bytes32")
    deadline: int = eip712("uint64")
