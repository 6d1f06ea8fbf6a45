"""Creation and append-only events, written in bulk: records, consents, accesses, keys.

These are the events that come by the thousand (a busy hospital logs every read), so each
kind is written with one statement per range. Re-applying a range is harmless: accesses and
key issuances are unique on (tx hash, log index); records and consents are keyed by their
on-chain id and only overwritten by the same or a newer registration (a ``pending`` row the
API wrote before sending becomes ``confirmed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crypto.signing import from_compact
from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.sql import (
    insert_ignoring_duplicates,
    or_none,
    upsert,
)
from storage.models import AccessEvent, Consent, KeyIssuance, Record, clamp_uint64
from storage.models.types import ZERO_ADDRESS, ZERO_BYTES32, utcnow

_LOOKUP_CHUNK = 500

records_t = Record.__table__
consents_t = Consent.__table__
access_t = AccessEvent.__table__
keys_t = KeyIssuance.__table__

# ------------------------------------------------------------------ bulk: records


def records(connection: Connection, events: Sequence[ChainEvent]) -> None:
    rows = [
        {
            "record_id": e.args["id"],
            "patient": e.args["patient"],
            "author": e.args["author"],
            "author_institution": e.args["authorInstitution"],
            "body_cid": e.args["bodyCid"],
            "header_cid": e.args["headerCid"],
            "body_sha256": e.args["bodyHash"],
            "policy_hash": e.args["policyHash"],
            "record_type": e.args["recordType"],
            "version": 1,
            "status": "active",
            "state": "confirmed",
            "tx_hash": e.tx_hash,
            "block_number": e.block_number,
            "log_index": e.log_index,
            "registered_at": clamp_uint64(e.args["registeredAt"]),
            "updated_block": e.block_number,
            "updated_log_index": e.log_index,
        }
        for e in events
    ]
    stmt = upsert(connection, records_t)
    chain_columns = [c for c in rows[0] if c != "record_id"]
    stmt = stmt.on_conflict_do_update(
        index_elements=["record_id"],
        set_={c: stmt.excluded[c] for c in chain_columns} | {"updated_at": utcnow()},
        where=sa.or_(
            records_t.c.updated_block.is_(None),
            records_t.c.updated_block < stmt.excluded.updated_block,
            sa.and_(
                records_t.c.updated_block == stmt.excluded.updated_block,
                records_t.c.updated_log_index < stmt.excluded.updated_log_index,
            ),
        ),
    )
    connection.execute(stmt, rows)


# ------------------------------------------------------------------ bulk: consents


def consents(connection: Connection, events: Sequence[ChainEvent]) -> None:
    rows = [
        {
            "consent_id": e.args["consentId"],
            "patient": e.args["patient"],
            "grantee": or_none(e.args["grantee"], ZERO_ADDRESS),
            "grantee_policy_hash": or_none(e.args["granteePolicyHash"], ZERO_BYTES32),
            "record_id": or_none(e.args["recordId"], ZERO_BYTES32),
            "purpose": e.args["purpose"],
            "not_before": clamp_uint64(e.args["notBefore"]),
            "expires_at": clamp_uint64(e.args["expiresAt"]),
            "nonce": e.args["nonce"],
            "tx_hash": e.tx_hash,
            "block_number": e.block_number,
            "log_index": e.log_index,
            "granted_at": e.block_time,
        }
        for e in events
    ]
    stmt = upsert(connection, consents_t)
    # Chain fields only: revocation and the API's policy text survive a replay.
    stmt = stmt.on_conflict_do_update(
        index_elements=["consent_id"],
        set_={c: stmt.excluded[c] for c in rows[0] if c != "consent_id"},
    )
    connection.execute(stmt, rows)


def revocation(connection: Connection, event: ChainEvent) -> None:
    connection.execute(
        sa.update(consents_t)
        .where(consents_t.c.consent_id == event.args["consentId"], consents_t.c.revoked.is_(False))
        .values(
            revoked=True,
            revoked_at=event.block_time,
            revoke_tx_hash=event.tx_hash,
            revoke_nonce=event.args["nonce"],
        )
    )


# ------------------------------------------------------------------ bulk: access log


def _patients_of(connection: Connection, record_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(record_ids))
    found: dict[str, str] = {}
    for i in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[i : i + _LOOKUP_CHUNK]
        query = sa.select(records_t.c.record_id, records_t.c.patient).where(
            records_t.c.record_id.in_(chunk)
        )
        found.update({rid: patient for rid, patient in connection.execute(query)})
    return found


def accesses(connection: Connection, events: Sequence[ChainEvent]) -> None:
    patients = _patients_of(connection, (e.args["recordId"] for e in events))
    rows = [
        {
            "record_id": e.args["recordId"],
            "patient": patients.get(e.args["recordId"]),
            "accessor": e.args["accessor"],
            "purpose": e.args["purpose"],
            "granted": e.args["granted"],
            "reason_code": e.args["reasonCode"],
            "block_number": e.block_number,
            "block_time": e.block_time,
            "tx_hash": e.tx_hash,
            "log_index": e.log_index,
            **_signed_request(e.args),
        }
        for e in events
    ]
    insert_ignoring_duplicates(connection, access_t, rows, ["tx_hash", "log_index"])


def _signed_request(args: dict[str, Any]) -> dict[str, Any]:
    """The reader's signed request an ``AccessLogged`` event carries (sigR/sigVs are the
    EIP-2098 compact form of the 65-byte signature, all zero for an unsigned denial)."""
    if "sigR" not in args:  # a log of the contract before reads were signed
        return {}
    r, vs = bytes.fromhex(args["sigR"][2:]), bytes.fromhex(args["sigVs"][2:])
    signed = any(r) or any(vs)
    return {
        "part": args["part"],
        "justification": args["justification"],
        "request_issued_at": clamp_uint64(args["issuedAt"]),
        "request_nonce": str(args["nonce"]),
        "reader_signature": "0x" + from_compact(r, vs).hex() if signed else None,
    }


def app_access(connection: Connection, e: ChainEvent) -> None:
    """``AppAccessLogged`` names the app of the ``AccessLogged`` just before it in the same
    transaction (``logAppAccessBatch`` emits the pair in order): mark that row."""
    connection.execute(
        sa.update(access_t)
        .where(access_t.c.tx_hash == e.tx_hash, access_t.c.log_index == e.log_index - 1)
        .values(app_id=e.args["appId"], client_id_hash=e.args["clientId"])
    )


def key_issuances(connection: Connection, events: Sequence[ChainEvent]) -> None:
    rows = [
        {
            "holder": e.args["holder"],
            "issuer": e.args["issuer"],
            "attributes_hash": e.args["attributesHash"],
            "epoch": clamp_uint64(e.args["epoch"]),
            "block_number": e.block_number,
            "block_time": e.block_time,
            "tx_hash": e.tx_hash,
            "log_index": e.log_index,
        }
        for e in events
    ]
    insert_ignoring_duplicates(connection, keys_t, rows, ["tx_hash", "log_index"])
