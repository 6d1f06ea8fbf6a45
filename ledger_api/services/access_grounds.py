"""Why a consented read was granted: the id of the consent, for the read's log entry.

``AccessLogged`` names what justified each grant so an auditor can prove from chain data alone
why access was given (issue 14). For a consent naming the reader's address, ``isAllowed``
answers only yes or no; the consent's id is the EIP-712 struct hash of the consent as it was
signed, which the chain's stored window and nonce for the consent key (``grantOf``) are enough
to rebuild. The index is asked first (it knows the id when it has caught up); the chain
answers when it has not, so the justification never depends on the indexer's lag.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.signing import ZERO_BYTES32, Consent, Purpose, consent_id
from ledger_api.principal import Principal
from storage.models import Consent as ConsentRow
from storage.models import Record, to_address

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["consent_ground"]


def consent_ground(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record, purpose: Purpose
) -> bytes:
    """The id of the address consent that lets ``principal`` read ``record`` (a record
    consent before a whole-chart one); zero only if neither index nor chain names one."""
    now = int(time.time())
    row = db.scalars(
        sa.select(ConsentRow.consent_id)
        .where(
            ConsentRow.patient == to_address(record.patient),
            ConsentRow.grantee == to_address(principal.address),
            ConsentRow.purpose == int(purpose),
            ConsentRow.revoked.is_(False),
            ConsentRow.not_before <= now,
            ConsentRow.expires_at > now,
            sa.or_(ConsentRow.record_id == record.record_id, ConsentRow.record_id.is_(None)),
        )
        .order_by(ConsentRow.record_id.is_(None))
        .limit(1)
    ).first()
    if row is not None:
        return bytes.fromhex(row[2:])
    for scope in (bytes.fromhex(record.record_id[2:]), ZERO_BYTES32):
        candidate = Consent(
            patient=record.patient,
            grantee=principal.address,
            record_id=scope,
            purpose=purpose,
            expires_at=1,
            nonce=0,
        )
        info = ctx.chain.consents.grant_of(candidate)
        if info.expires_at > now >= info.not_before:
            return consent_id(
                Consent(
                    patient=record.patient,
                    grantee=principal.address,
                    record_id=scope,
                    purpose=purpose,
                    not_before=info.not_before,
                    expires_at=info.expires_at,
                    nonce=info.nonce,
                )
            )
    return ZERO_BYTES32
