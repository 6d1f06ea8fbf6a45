"""Key requests to an institution's key authority (``medledger authority serve``).

A member asks their own institution's authority for their FAME key by signing a
:class:`KeyRequest` (domain "MedLedger KeyAuthority", version "1", the chain id, and the
``Consortium`` contract as verifying contract, since that is where the authority is
registered). The request names the holder, the institution, the X25519 key the FAME key is to
be sealed to, when it was made and a nonce: the authority accepts it only shortly after
``issuedAt`` and refuses a nonce it has seen, so a captured request cannot be replayed to get a
key sealed to someone else's key (the recipient key is signed). No contract verifies it; the
authority does, and its issuance is logged on chain (``Consortium.KeyIssued``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from crypto.signing.core import Domain, TypedMessage, eip712

__all__ = ["KEY_AUTHORITY_DOMAIN_NAME", "KeyRequest", "key_authority_domain"]

KEY_AUTHORITY_DOMAIN_NAME = "MedLedger KeyAuthority"


@dataclass(frozen=True, kw_only=True)
class KeyRequest(TypedMessage):
    """``holder`` asks institution ``institution_id``'s authority for their key, sealed to
    ``recipient_key`` (X25519, 32 bytes), at ``issued_at``, once (``nonce``)."""

    CONTRACT: ClassVar[str] = "KeyAuthority"

    holder: str = eip712("address")
    institution_id: int = eip712("uint32")
    recipient_key: bytes = eip712("bytes32")
    issued_at: int = eip712("uint64")
    nonce: int = eip712("uint64")


def key_authority_domain(*, chain_id: int, consortium: str) -> Domain:
    return Domain(chain_id=chain_id, verifying_contract=consortium, name=KEY_AUTHORITY_DOMAIN_NAME)
