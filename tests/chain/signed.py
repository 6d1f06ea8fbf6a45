"""Signed messages for the chain-layer tests: fresh registrations and signed read entries.

The wrappers' own :meth:`~ledger_api.chain.contract.SignedContract.sign_as` signs with a
``LocalAccount`` under the contract's domain; these factories only fill in realistic values.
"""

from __future__ import annotations

import os

from eth_account.signers.local import LocalAccount
from web3 import Web3

from crypto.signing import Purpose, ReadPart, ReadRequest, RecordRegistration
from ledger_api.chain.access_log import AccessEntry, AccessLog
from ledger_api.chain.records import RecordRegistry, SignedRegistration


def deadline(w3: Web3, seconds: int = 3600) -> int:
    """``seconds`` after the latest block (chain time, not the wall clock)."""
    return int(w3.eth.get_block("latest")["timestamp"]) + seconds


def registration(w3: Web3, patient: str, **overrides: object) -> RecordRegistration:
    fields: dict[str, object] = {
        "id": os.urandom(32),
        "patient": patient,
        "body_cid": "bafkrei" + "a" * 52,
        "header_cid": "bafkrei" + "b" * 52,
        "body_hash": os.urandom(32),
        "policy_hash": os.urandom(32),
        "record_type": b"fhir:Observation".ljust(32, b"\x00"),
        "deadline": deadline(w3),
    }
    fields.update(overrides)
    return RecordRegistration(**fields)  # type: ignore[arg-type]


def signed_registration(
    registry: RecordRegistry, author: LocalAccount, patient: str, **overrides: object
) -> SignedRegistration:
    message = registration(registry.w3, patient, **overrides)
    return message, registry.sign_as(author, message)


def read_entry(
    log: AccessLog,
    reader: LocalAccount,
    record_id: bytes | None = None,
    *,
    granted: bool = True,
    purpose: Purpose = Purpose.TREATMENT,
    part: ReadPart = ReadPart.BODY,
    reason_code: int = 0,
    justification: bytes | None = None,
) -> AccessEntry:
    """An entry for a read ``reader`` really asked for (its own signed request)."""
    request = ReadRequest(
        record_id=record_id or os.urandom(32),
        part=part,
        purpose=int(purpose),
        issued_at=deadline(log.w3, 0),
        nonce=int.from_bytes(os.urandom(8), "big"),
    )
    return AccessEntry.for_request(
        request,
        log.sign_as(reader, request),
        accessor=reader.address,
        granted=granted,
        reason_code=reason_code,
        justification=justification if justification is not None else os.urandom(32),
    )
