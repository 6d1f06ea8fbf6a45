"""A patient's connected apps: what the wallet shows beside the Revoke button.

An app is connected to a chart when it holds (or held) a token for it. Per app the patient sees
its registered clients, the scopes last granted, whether a token is still live, every
authorisation on chain (who approved it, in which transaction, when its first token was
issued), how many reads were made for it (the index of ``AppAccessLogged``), and whether they
revoked it on chain (when, and in which transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.smart.store import checksum, now
from storage.models import AccessEvent, SmartClient, SmartEvent, SmartToken

if TYPE_CHECKING:
    from ledger_api.context import AppContext


def list_connections(*, ctx: AppContext, db: Session, patient: str) -> list[dict[str, Any]]:
    """The apps holding or having held tokens for ``patient``'s chart, newest first."""
    patient = patient.lower()
    tokens = db.execute(
        sa.select(SmartToken, SmartClient)
        .join(SmartClient, SmartClient.client_id == SmartToken.client_id)
        .where(SmartToken.patient == patient)
        .order_by(SmartToken.issued_at.desc())
    ).all()
    apps: dict[str, dict[str, Any]] = {}
    for token, client in tokens:
        app = apps.get(client.app_id)
        if app is None:
            app = apps[client.app_id] = {
                "app_id": client.app_id,
                "name": client.name,
                "version": client.version,
                "clients": [],
                "scope": token.scope,
                "active": False,
                "last_issued_at": token.issued_at,
                "authorizations": [],
            }
        if client.client_id not in app["clients"]:
            app["clients"].append(client.client_id)
        if not token.revoked and token.expires_at > now():
            app["active"] = True
        tx = token.authorization_tx
        known = next((a for a in app["authorizations"] if a["tx_hash"] == tx), None)
        if tx and known is None:
            app["authorizations"].append(
                {
                    "tx_hash": tx,
                    "user": checksum(token.user),
                    "scope": token.scope,
                    "issued_at": token.issued_at,
                }
            )
        elif known is not None:
            # newest first: the authorisation's first token is its last one seen
            known["issued_at"] = min(known["issued_at"], token.issued_at)
    reads = dict(
        db.execute(
            sa.select(AccessEvent.app_id, sa.func.count())
            .where(AccessEvent.patient == patient, AccessEvent.app_id.in_(list(apps)))
            .group_by(AccessEvent.app_id)
        ).all()
    )
    market = ctx.chain.marketplace
    for app_id, app in apps.items():
        app["reads"] = int(reads.get(app_id, 0))
        app["revoked_at"] = market.app_revoked_at(patient, bytes.fromhex(app_id[2:]))
        # the revocation in force on chain: the patient's latest one relayed here
        app["revocation_tx"] = (
            _revocation_tx(db, patient, app["clients"]) if app["revoked_at"] else None
        )
    return list(apps.values())


def _revocation_tx(db: Session, patient: str, client_ids: list[str]) -> str | None:
    """The transaction of the patient's latest revocation of one of ``client_ids``' app."""
    return db.scalar(
        sa.select(SmartEvent.tx_hash)
        .where(
            SmartEvent.kind == "connection_revoked",
            SmartEvent.patient == patient,
            SmartEvent.client_id.in_(client_ids),
            SmartEvent.tx_hash.is_not(None),
        )
        .order_by(SmartEvent.id.desc())
        .limit(1)
    )


__all__ = ["list_connections"]
