"""The emergency key of a break-glass opening: FAME ``KeyGen`` for ``role:emergency``,
``patient:<address>`` and the break-glass counters ``bg:<floor>`` … ``bg:<j-1>`` of opening
``j``, sealed to the clinician, its issuance on chain before it is returned.

Record policies carry ``bg:<n>``, ``n`` the patient's opening count when the record was
encrypted (``clients/sdk/policies.py``). The key of opening ``j`` therefore opens what was written
before it was opened, and nothing written or re-keyed afterwards (``bg:<j>`` or more). The
*floor* is the lowest counter any of the patient's active records still uses (0 when none
names one), so the key does not carry counters no record needs.

Split from :mod:`ledger_api.services.break_glass` (open, review) because it is the one place
the key authority's master secret is used for break-glass: the attribute set is fixed here
(:func:`emergency_attributes`) and nowhere else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.envelope import parse_header
from crypto.errors import CryptoError, SealError
from crypto.keys import seal_user_key
from ledger_api.chain.errors import ChainError
from ledger_api.http_errors import ForbiddenError, ServiceUnavailableError, UnprocessableError
from ledger_api.indexer.sql import upsert
from ledger_api.principal import Principal
from ledger_api.services.access import chain_required
from ledger_api.services.authority import attributes_hash, require_authority
from ledger_api.services.break_glass import opening_row, require_doctor
from ledger_api.services.break_glass_queries import opening_number
from ledger_api.services.chain_time import block_time, latest_block_time
from storage.errors import StorageError
from storage.models import KeyIssuance, Record

if TYPE_CHECKING:
    from ledger_api.context import AppContext

log = logging.getLogger("ledger_api.break_glass")

EMERGENCY_KEY_EPOCH = 0
"""Logged with the issuance: emergency keys carry no epoch attribute (docs/break-glass.md)."""

_BG_ATTRIBUTE = re.compile(r"(?<![\w:])bg:(\d+)\b", re.IGNORECASE)
_HEADER_COUNTERS: dict[str, int | None] = {}  # header CID -> lowest bg:<n> (CIDs are immutable)
_HEADER_CACHE_MAX = 200_000


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


def emergency_attributes(patient: str, *, number: int, floor: int = 0) -> tuple[str, ...]:
    """The attribute set of the key of ``patient``'s opening ``number`` (1-based): the role,
    the patient, and ``bg:<floor>`` … ``bg:<number-1>`` (sorted, case-folded)."""
    counters = (f"bg:{n}" for n in range(max(0, floor), number))
    return tuple(sorted(("role:emergency", f"patient:{patient.lower()}", *counters)))


def header_counter(ctx: AppContext, header_cid: str) -> int | None:
    """The lowest ``bg:<n>`` of a record header's policy (None: it names none)."""
    if header_cid in _HEADER_COUNTERS:
        return _HEADER_COUNTERS[header_cid]
    try:
        header = parse_header(b"".join(ctx.store.get(header_cid)))
    except (CryptoError, StorageError) as exc:
        log.warning("cannot read the header %s for its break-glass counter: %s", header_cid, exc)
        return None  # not cached: the block may come back
    found = [int(n) for n in _BG_ATTRIBUTE.findall(header.policy)]
    counter = min(found) if found else None
    if len(_HEADER_COUNTERS) >= _HEADER_CACHE_MAX:
        _HEADER_COUNTERS.clear()
    _HEADER_COUNTERS[header_cid] = counter
    return counter


def counter_floor(ctx: AppContext, db: Session, patient: str) -> int:
    """The lowest break-glass counter the patient's active records still use (0 if none)."""
    cids = db.scalars(
        sa.select(Record.header_cid).where(
            Record.patient == patient.lower(),
            Record.state == "confirmed",
            Record.status == "active",
        )
    )
    counters = [c for cid in cids if (c := header_counter(ctx, cid)) is not None]
    return min(counters) if counters else 0


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
    attributes = emergency_attributes(
        patient, number=opening_number(db, row), floor=counter_floor(ctx, db, patient)
    )
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
