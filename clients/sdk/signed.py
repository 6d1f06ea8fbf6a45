"""The record messages the SDK signs: registrations and re-keys, built from the exact bytes sent.

The chain recovers the author of a registration (and the actor of a re-key) from an EIP-712
signature over the record's CIDs, digests and policy hash (:mod:`crypto.signing.records`), and
the API recomputes each value from what it received. So the client computes them here from the
very header and body it is about to upload — the CIDs with the same UnixFS importer the block
store uses — and signs nothing it has not hashed itself.
"""

from __future__ import annotations

import hashlib
import time
from typing import IO

from crypto.envelope import Header
from crypto.policy import policy_hash
from crypto.signing import RecordBodyRekey, RecordRegistration, RecordRekey
from storage.unixfs import compute_cid

__all__ = [
    "ACTION_TTL",
    "body_digests",
    "deadline",
    "registration_of",
    "rekey_of",
]

ACTION_TTL = 3600  # seconds a signed action may wait for its relay before the chain refuses it


def deadline(ttl: int = ACTION_TTL) -> int:
    """The deadline of an action signed now."""
    return int(time.time()) + ttl


def body_digests(body: IO[bytes]) -> tuple[str, bytes]:
    """``(CID, SHA-256)`` of a body file, read from its start; the file is rewound after."""
    body.seek(0)
    sha = hashlib.sha256()
    while chunk := body.read(1 << 20):
        sha.update(chunk)
    body.seek(0)
    cid = str(compute_cid(body))
    body.seek(0)
    return cid, sha.digest()


def registration_of(
    *,
    record_id: bytes,
    patient: str,
    header: Header,
    header_bytes: bytes,
    body: IO[bytes],
    record_type: str,
    ttl: int = ACTION_TTL,
) -> RecordRegistration:
    """The registration of an upload, for its author to sign."""
    body_cid, body_hash = body_digests(body)
    return RecordRegistration(
        id=record_id,
        patient=patient,
        body_cid=body_cid,
        header_cid=str(compute_cid(header_bytes)),
        body_hash=body_hash,
        policy_hash=policy_hash(header.policy),
        record_type=record_type.encode("utf-8").ljust(32, b"\0"),
        deadline=deadline(ttl),
    )


def rekey_of(
    *,
    record_id: bytes,
    version: int,
    header: Header,
    header_bytes: bytes,
    body: IO[bytes] | None,
    ttl: int = ACTION_TTL,
) -> RecordRekey | RecordBodyRekey:
    """The re-key of ``version`` (the record's current one: a signed re-key applies once)."""
    header_cid = str(compute_cid(header_bytes))
    if body is None:
        return RecordRekey(
            id=record_id,
            version=version,
            header_cid=header_cid,
            policy_hash=policy_hash(header.policy),
            deadline=deadline(ttl),
        )
    body_cid, body_hash = body_digests(body)
    return RecordBodyRekey(
        id=record_id,
        version=version,
        body_cid=body_cid,
        header_cid=header_cid,
        body_hash=body_hash,
        policy_hash=policy_hash(header.policy),
        deadline=deadline(ttl),
    )
