"""Write decoded events into the relational index, in bulk, idempotently.

One call of :func:`apply_events` handles one block range inside the caller's transaction.
Idempotency comes from three rules, so replaying any range leaves the index unchanged:

- append-only events (``AccessLogged``, ``KeyIssued``) are inserted with
  ``ON CONFLICT (tx_hash, log_index) DO NOTHING``;
- creation events (``RecordRegistered``, ``ConsentGranted``) are upserted by their on-chain
  id and only overwrite a row whose last applied event is older (or which the API created as
  ``pending``);
- every other event updates its row only when it is newer than the row's
  ``(updated_block, updated_log_index)``, so an old event never overwrites a newer state.

The hot events are grouped and written with one executemany each; the rare ones
(membership, status changes) are applied one by one in chain order after the creations of
the same range, which is safe because an update can only follow its creation on chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ledger_api.indexer.decode import ChainEvent
from storage.models import (
    AccessEvent,
    Consent,
    Consultation,
    ConsultationInvitation,
    ConsultationOpinion,
    Institution,
    KeyIssuance,
    Member,
    MemberAttribute,
    Record,
    Referral,
    WorkflowTransition,
    clamp_uint64,
)
from storage.models.identity import ROLES
from storage.models.types import ZERO_ADDRESS, ZERO_BYTES32, utcnow

_LOOKUP_CHUNK = 500

records_t = Record.__table__
consents_t = Consent.__table__
access_t = AccessEvent.__table__
keys_t = KeyIssuance.__table__
institutions_t = Institution.__table__
members_t = Member.__table__
attributes_t = MemberAttribute.__table__
referrals_t = Referral.__table__
consultations_t = Consultation.__table__
invitations_t = ConsultationInvitation.__table__
opinions_t = ConsultationOpinion.__table__
transitions_t = WorkflowTransition.__table__


def _insert(connection: Connection, table: sa.Table) -> Any:
    """A dialect ``INSERT`` that supports ``ON CONFLICT`` (SQLite ≥ 3.24 and PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _newer(table: sa.Table, event: ChainEvent) -> sa.ColumnElement[bool]:
    """The row's last applied event is older than ``event`` (or there is none)."""
    block, log_index = event.position
    return sa.or_(
        table.c.updated_block.is_(None),
        table.c.updated_block < block,
        sa.and_(table.c.updated_block == block, table.c.updated_log_index < log_index),
    )


def _position(event: ChainEvent) -> dict[str, int]:
    return {"updated_block": event.block_number, "updated_log_index": event.log_index}


def _guarded_update(
    connection: Connection,
    table: sa.Table,
    where: sa.ColumnElement[bool],
    event: ChainEvent,
    values: dict[str, Any],
) -> bool:
    """Apply ``values`` if ``event`` is newer than the row; True when a row changed."""
    result = connection.execute(
        sa.update(table).where(where, _newer(table, event)).values(**values, **_position(event))
    )
    return bool(result.rowcount)


def _or_none(value: str, zero: str) -> str | None:
    return None if value == zero else value


def _attribute_text(word: str) -> str:
    """A ``bytes32``-packed attribute (``dept:cardiology``) as text; hex if not UTF-8."""
    raw = bytes.fromhex(word[2:]).rstrip(b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return word
    return text if text.isprintable() else word


# ------------------------------------------------------------------ bulk: records


def _records(connection: Connection, events: Sequence[ChainEvent]) -> None:
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
    stmt = _insert(connection, records_t)
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


def _consents(connection: Connection, events: Sequence[ChainEvent]) -> None:
    rows = [
        {
            "consent_id": e.args["consentId"],
            "patient": e.args["patient"],
            "grantee": _or_none(e.args["grantee"], ZERO_ADDRESS),
            "grantee_policy_hash": _or_none(e.args["granteePolicyHash"], ZERO_BYTES32),
            "record_id": _or_none(e.args["recordId"], ZERO_BYTES32),
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
    stmt = _insert(connection, consents_t)
    # Chain fields only: revocation and the API's policy text survive a replay.
    stmt = stmt.on_conflict_do_update(
        index_elements=["consent_id"],
        set_={c: stmt.excluded[c] for c in rows[0] if c != "consent_id"},
    )
    connection.execute(stmt, rows)


def _revocation(connection: Connection, event: ChainEvent) -> None:
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


def _accesses(connection: Connection, events: Sequence[ChainEvent]) -> None:
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
        }
        for e in events
    ]
    stmt = _insert(connection, access_t).on_conflict_do_nothing(
        index_elements=["tx_hash", "log_index"]
    )
    connection.execute(stmt, rows)


def _keys(connection: Connection, events: Sequence[ChainEvent]) -> None:
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
    stmt = _insert(connection, keys_t).on_conflict_do_nothing(
        index_elements=["tx_hash", "log_index"]
    )
    connection.execute(stmt, rows)


# ------------------------------------------------------------------ one by one: consortium


def _institution_added(connection: Connection, e: ChainEvent) -> None:
    values = {
        "institution_id": e.args["institutionId"],
        "code": e.args["code"],
        "name": e.args["name"],
        "admin": e.args["admin"],
        "active": True,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **_position(e),
    }
    stmt = _insert(connection, institutions_t).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["institution_id"],
        set_={c: stmt.excluded[c] for c in values if c != "institution_id"},
        where=_newer(institutions_t, e),
    )
    connection.execute(stmt)


def _institution(column_values: Callable[[ChainEvent], dict[str, Any]]) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        where = institutions_t.c.institution_id == e.args["institutionId"]
        _guarded_update(connection, institutions_t, where, e, column_values(e))

    return handle


def _replace_attributes(connection: Connection, account: str, words: Sequence[str]) -> None:
    connection.execute(sa.delete(attributes_t).where(attributes_t.c.address == account))
    texts = sorted({_attribute_text(w) for w in words})
    if texts:
        connection.execute(
            sa.insert(attributes_t), [{"address": account, "attribute": t} for t in texts]
        )


def _member_enrolled(connection: Connection, e: ChainEvent) -> None:
    account = e.args["account"]
    values = {
        "address": account,
        "institution_id": e.args["institutionId"] or None,
        "role": ROLES[e.args["role"]] if e.args["role"] < len(ROLES) else str(e.args["role"]),
        "active": True,
        "removed": False,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **_position(e),
    }
    stmt = _insert(connection, members_t).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["address"],
        set_={c: stmt.excluded[c] for c in values if c != "address"},
        where=_newer(members_t, e),
    )
    # RETURNING, not rowcount: psycopg reports -1 for a skipped ON CONFLICT DO UPDATE.
    if connection.execute(stmt.returning(members_t.c.address)).first() is not None:
        _replace_attributes(connection, account, e.args["attributes"])


def _member_updated(connection: Connection, e: ChainEvent) -> None:
    account = e.args["account"]
    role = ROLES[e.args["role"]] if e.args["role"] < len(ROLES) else str(e.args["role"])
    if _guarded_update(connection, members_t, members_t.c.address == account, e, {"role": role}):
        _replace_attributes(connection, account, e.args["attributes"])


def _member(column_values: dict[str, Any], *, clear_attributes: bool = False) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        account = e.args["account"]
        where = members_t.c.address == account
        if _guarded_update(connection, members_t, where, e, dict(column_values)) and (
            clear_attributes
        ):
            _replace_attributes(connection, account, [])

    return handle


# ------------------------------------------------------------------ one by one: records


def _record(column_values: Callable[[ChainEvent], dict[str, Any]]) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        where = records_t.c.record_id == e.args["id"]
        _guarded_update(connection, records_t, where, e, column_values(e))

    return handle


# ------------------------------------------------------------------ one by one: workflow


def _transition(
    connection: Connection, e: ChainEvent, kind: str, workflow_id: str, state: str
) -> None:
    reason = e.args.get("reason")
    stmt = _insert(connection, transitions_t).values(
        kind=kind,
        workflow_id=workflow_id,
        event=e.name,
        to_state=state,
        actor=e.args.get("actor") or e.args.get("requester"),
        reason=reason,
        block_number=e.block_number,
        block_time=e.block_time,
        tx_hash=e.tx_hash,
        log_index=e.log_index,
    )
    connection.execute(stmt.on_conflict_do_nothing(index_elements=["tx_hash", "log_index"]))


def _referral_requested(connection: Connection, e: ChainEvent) -> None:
    rid = e.args["referralId"]
    values = {
        "referral_id": rid,
        "patient": e.args["patient"],
        "from_institution": e.args["fromInstitution"],
        "to_institution": e.args["toInstitution"],
        "requester": e.args["requester"],
        "record_id": _or_none(e.args["recordId"], ZERO_BYTES32),
        "reason": _or_none(e.args["reason"], ZERO_BYTES32),
        "state": "requested",
        "created_at": e.block_time,
        "updated_at": e.block_time,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **_position(e),
    }
    stmt = _insert(connection, referrals_t).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["referral_id"],
        set_={c: stmt.excluded[c] for c in values if c != "referral_id"},
        where=_newer(referrals_t, e),
    )
    connection.execute(stmt)
    _transition(connection, e, "referral", rid, "requested")


def _referral(state: str, extra: Callable[[ChainEvent], dict[str, Any]] | None = None) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        rid = e.args["referralId"]
        values = {"state": state, "updated_at": e.block_time, **(extra(e) if extra else {})}
        _guarded_update(connection, referrals_t, referrals_t.c.referral_id == rid, e, values)
        _transition(connection, e, "referral", rid, state)

    return handle


def _consultation_requested(connection: Connection, e: ChainEvent) -> None:
    cid = e.args["consultationId"]
    values = {
        "consultation_id": cid,
        "patient": e.args["patient"],
        "requester": e.args["requester"],
        "requester_institution": e.args["requesterInstitution"],
        "record_id": _or_none(e.args["recordId"], ZERO_BYTES32),
        "policy_hash": _or_none(e.args["policyHash"], ZERO_BYTES32),
        "deadline": clamp_uint64(e.args["deadline"]),
        "state": "open",
        "created_at": e.block_time,
        "updated_at": e.block_time,
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        **_position(e),
    }
    stmt = _insert(connection, consultations_t).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["consultation_id"],
        set_={c: stmt.excluded[c] for c in values if c != "consultation_id"},
        where=_newer(consultations_t, e),
    )
    connection.execute(stmt)
    invited = sorted(set(e.args["invitedInstitutions"]))
    if invited:
        connection.execute(
            _insert(connection, invitations_t).on_conflict_do_nothing(),
            [{"consultation_id": cid, "institution_id": i} for i in invited],
        )
    _transition(connection, e, "consultation", cid, "open")


def _opinion(connection: Connection, e: ChainEvent) -> None:
    stmt = _insert(connection, opinions_t).values(
        consultation_id=e.args["consultationId"],
        author=e.args["author"],
        institution_id=e.args["institutionId"],
        opinion_cid=e.args["opinionCid"],
        opinion_hash=e.args["opinionHash"],
        block_number=e.block_number,
        block_time=e.block_time,
        tx_hash=e.tx_hash,
        log_index=e.log_index,
    )
    connection.execute(stmt.on_conflict_do_nothing(index_elements=["tx_hash", "log_index"]))


def _consultation(
    state: str, extra: Callable[[ChainEvent], dict[str, Any]] | None = None
) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        cid = e.args["consultationId"]
        values = {"state": state, "updated_at": e.block_time, **(extra(e) if extra else {})}
        where = consultations_t.c.consultation_id == cid
        _guarded_update(connection, consultations_t, where, e, values)
        _transition(connection, e, "consultation", cid, state)

    return handle


Handler = Callable[[Connection, ChainEvent], None]
BulkHandler = Callable[[Connection, Sequence[ChainEvent]], None]

# Creation / append-only events, written in bulk first (in this order: access events look up
# the patients of records registered in the same range).
BULK: dict[tuple[str, str], BulkHandler] = {
    ("RecordRegistry", "RecordRegistered"): _records,
    ("ConsentManager", "ConsentGranted"): _consents,
    ("AccessLog", "AccessLogged"): _accesses,
    ("AccessLog", "KeyIssued"): _keys,
}

# Everything else, applied one at a time in chain order after the bulk writes.
SINGLE: dict[tuple[str, str], Handler] = {
    ("Consortium", "InstitutionAdded"): _institution_added,
    ("Consortium", "InstitutionUpdated"): _institution(
        lambda e: {"name": e.args["name"], "admin": e.args["admin"]}
    ),
    ("Consortium", "InstitutionSuspended"): _institution(lambda e: {"active": False}),
    ("Consortium", "InstitutionReinstated"): _institution(lambda e: {"active": True}),
    ("Consortium", "MemberEnrolled"): _member_enrolled,
    ("Consortium", "MemberUpdated"): _member_updated,
    ("Consortium", "MemberSuspended"): _member({"active": False}),
    ("Consortium", "MemberReinstated"): _member({"active": True}),
    ("Consortium", "MemberRemoved"): _member(
        {"active": False, "removed": True}, clear_attributes=True
    ),
    ("RecordRegistry", "RecordRekeyed"): _record(
        lambda e: {
            "version": e.args["version"],
            "header_cid": e.args["headerCid"],
            "policy_hash": e.args["policyHash"],
        }
    ),
    ("RecordRegistry", "RecordSuperseded"): _record(
        lambda e: {"status": "superseded", "superseded_by": e.args["newId"]}
    ),
    ("RecordRegistry", "RecordWithdrawn"): _record(
        lambda e: {"status": "withdrawn", "withdraw_reason": e.args["reasonCode"]}
    ),
    ("ConsentManager", "ConsentRevoked"): _revocation,
    ("Workflow", "ReferralRequested"): _referral_requested,
    ("Workflow", "ReferralAccepted"): _referral("accepted"),
    ("Workflow", "ReferralRejected"): _referral(
        "rejected", lambda e: {"closing_reason": e.args["reason"]}
    ),
    ("Workflow", "ReferralArrived"): _referral("arrived"),
    ("Workflow", "ReferralCompleted"): _referral(
        "completed", lambda e: {"summary_record_id": e.args["summaryRecordId"]}
    ),
    ("Workflow", "ReferralCancelled"): _referral(
        "cancelled", lambda e: {"closing_reason": e.args["reason"]}
    ),
    ("Workflow", "ConsultationRequested"): _consultation_requested,
    ("Workflow", "ConsultationOpinionSubmitted"): _opinion,
    ("Workflow", "ConsultationClosed"): _consultation(
        "closed",
        lambda e: {
            "conclusion_cid": e.args["conclusionCid"],
            "conclusion_hash": e.args["conclusionHash"],
            "opinion_count": e.args["opinionCount"],
        },
    ),
    ("Workflow", "ConsultationCancelled"): _consultation(
        "cancelled", lambda e: {"closing_reason": e.args["reason"]}
    ),
}

# Decoded but not stored: nothing in the API or the audit queries asks for them.
IGNORED: frozenset[tuple[str, str]] = frozenset({("Consortium", "AdminTransferred")})


def apply_events(connection: Connection, events: Sequence[ChainEvent]) -> None:
    """Write one range's events (in chain order) inside the caller's transaction."""
    grouped: dict[tuple[str, str], list[ChainEvent]] = defaultdict(list)
    singles: list[ChainEvent] = []
    for event in events:
        key = (event.contract, event.name)
        if key in BULK:
            grouped[key].append(event)
        elif key in SINGLE:
            singles.append(event)
    for key, handler in BULK.items():
        if grouped.get(key):
            handler(connection, grouped[key])
    for event in singles:
        SINGLE[(event.contract, event.name)](connection, event)
