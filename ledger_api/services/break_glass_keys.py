"""The emergency key of a break-glass opening: FAME ``KeyGen`` for ``role:emergency`` and
``patient:<address>``, sealed to the clinician, its issuance on chain before it is returned.

Split from :mod:`ledger_api.services.break_glass` (open, review) because it is the one place
the key authority's master secret is used for break-glass: the attribute set is fixed here
(:func:`emergency_attributes`) and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address
from sqlalchemy.orm import Session

from crypto.errors import SealError
from crypto.keys import seal_user_key
from ledger_api.chain.errors import ChainError
from ledger_api.http_errors import ForbiddenError, ServiceUnavailableError, UnprocessableError
from ledger_api.indexer.sql import upsert
from ledger_api.principal import Principal
from ledger_api.services.access import chain_required
from ledger_api.services.authority import attributes_hash, require_authority
from ledger_api.services.break_glass import opening_row, require_doctor
from ledger_api.services.chain_time import block_time, latest_block_time
from storage.models import KeyIssuance

if TYPE_CHECKING:
    from ledger_api.context import AppContext

EMERGENCY_KEY_EPOCH = 0
"""Logged with the issuance: emergency keys carry no epoch attribute (docs/break-glass.md)."""


@dataclass(frozen=True, kw_only=True)
class EmergencyKey:
    sealed_key: bytes
    holder: str
    patient: str
    attributes: tuple[str, ...]
    attributes_hash: bytes
    expires_at: int
    tx_hash: str
    block_number: int


def emergency_attributes(patient: str) -> tuple[str, ...]:
    """The attribute set of an emergency key for ``patient`` (sorted, case-folded)."""
    return tuple(sorted(("role:emergency", f"patient:{patient.lower()}")))


def issue_emergency_key(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    opening_id: str,
    recipient_public_key: bytes,
) -> EmergencyKey:
    """The emergency key of an open opening, sealed to its clinician; logged on chain first."""
    authority = require_authority(ctx)
    require_doctor(principal)
    row = opening_row(db, opening_id)
    if row.clinician != principal.address.lower():
        raise ForbiddenError(
            "only the clinician who opened it gets its emergency key", code="not_your_opening"
        )
    patient, expires_at = to_checksum_address(row.patient), row.expires_at
    with chain_required("cannot read the chain time"):
        now = latest_block_time(ctx)
    if now >= expires_at:
        raise ForbiddenError(
            f"the break-glass window ended at {expires_at} (chain time {now})",
            code="break_glass_expired",
        )
    attributes = emergency_attributes(patient)
    try:
        sealed = seal_user_key(authority.issue(attributes), recipient_public_key)
    except SealError as exc:
        raise UnprocessableError(
            f"unusable X25519 public key: {exc}", code="invalid_public_key"
        ) from exc
    digest = attributes_hash(attributes)
    db.rollback()
    try:
        mined = ctx.chain.access_log.log_key_issued(
            holder=principal.address, attributes_hash=digest, epoch=EMERGENCY_KEY_EPOCH
        ).wait()
        event = mined.event("KeyIssued")
        when = block_time(ctx, mined.block_number)
    except (ChainError, KeyError) as exc:
        raise ServiceUnavailableError(
            f"the issuance could not be logged on chain, so no key is issued: {exc}",
            code="chain_unavailable",
        ) from exc
    values = {
        "holder": principal.address.lower(),
        "issuer": str(event.args["issuer"]).lower(),
        "attributes_hash": "0x" + digest.hex(),
        "epoch": EMERGENCY_KEY_EPOCH,
        "attributes": list(attributes),
        "recipient_public_key": "0x" + recipient_public_key.hex(),
        "block_number": mined.block_number,
        "block_time": when,
        "tx_hash": mined.tx_hash.lower(),
        "log_index": event.log_index,
    }
    stmt = upsert(db.connection(), KeyIssuance.__table__).values(**values)
    db.execute(
        stmt.on_conflict_do_update(
            index_elements=["tx_hash", "log_index"],
            set_={
                "attributes": stmt.excluded.attributes,
                "recipient_public_key": stmt.excluded.recipient_public_key,
            },
        )
    )
    db.commit()
    return EmergencyKey(
        sealed_key=sealed,
        holder=principal.address,
        patient=patient,
        attributes=attributes,
        attributes_hash=digest,
        expires_at=expires_at,
        tx_hash=mined.tx_hash,
        block_number=mined.block_number,
    )
