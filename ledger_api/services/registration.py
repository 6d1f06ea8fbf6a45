"""A record's registration: the message its author signs, checked here, sent as signed.

The chain trusts the author's signature, not the relayer (DESIGN "Trust"): the author signs a
:class:`~crypto.signing.RecordRegistration` over the record id, the patient, both CIDs, the
body digest, the policy hash, the record type and a deadline, and ``RecordRegistry`` recovers
the author from it. The API recomputes every one of those values from what it received, so it
refuses (before anything is stored) an upload whose signature does not sign exactly these
bytes, or was made by someone other than the signed-in caller, or has expired.

Both the share path (:mod:`ledger_api.services.records`) and the start-up reconciler
(:mod:`ledger_api.services.reconciler`) send a ``pending`` row's registration: the row keeps
the signature and deadline, and :func:`signed_registration` rebuilds the message from it.
"""

from __future__ import annotations

from crypto.signing import Domain, RecordRegistration
from ledger_api.services.signed_actions import check_signed_action, parse_signature
from storage.models import Record

__all__ = [
    "check_registration",
    "parse_signature",
    "registration_domain",
    "signed_registration",
]


def registration_domain(*, chain_id: int, registry: str) -> Domain:
    return RecordRegistration.domain(chain_id=chain_id, verifying_contract=registry)


def check_registration(
    registration: RecordRegistration, signature: bytes, *, domain: Domain, signer: str
) -> None:
    """Refuse a registration not signed by ``signer`` (the caller), or expired."""
    check_signed_action(registration, signature, domain=domain, signer=signer, what="registration")


def signed_registration(row: Record) -> tuple[RecordRegistration, bytes]:
    """The registration a pending index row stands for, with its author's signature."""
    if row.registration_signature is None or row.registration_deadline is None:
        raise ValueError(f"record {row.record_id} has no signed registration to send")
    message = RecordRegistration(
        id=bytes.fromhex(row.record_id[2:]),
        patient=row.patient,
        body_cid=row.body_cid,
        header_cid=row.header_cid,
        body_hash=bytes.fromhex(row.body_sha256[2:]),
        policy_hash=bytes.fromhex(row.policy_hash[2:]),
        record_type=bytes.fromhex(row.record_type[2:]),
        deadline=int(row.registration_deadline),
    )
    return message, bytes.fromhex(row.registration_signature[2:])
