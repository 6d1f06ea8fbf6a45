"""Membership epochs: the current epoch, the floor, advancing, and the records still stale.

Why epochs: a CP-ABE key cannot be taken back. When a member leaves (suspended, removed,
attributes changed, institution suspended) the API refuses them at once, but a key they hold
still opens every ciphertext whose policy it satisfies. So every record policy the clients
write is ANDed with ``epoch:<E>`` (:mod:`clients.sdk.policies`), clinicians' keys carry
``epoch:<floor>`` … ``epoch:<E>``, and a membership change moves ``E`` on: records written
or re-keyed afterwards need ``epoch:<E+1>``, which no key issued before the change has.

- ``E`` lives on chain (``AccessLog.currentEpoch``; each advance is an ``EpochAdvanced``
  event, mirrored into ``authority_epochs``), so every API replica agrees and a replayed
  advance reverts instead of skipping an epoch.
- The *floor* is the oldest epoch any active record still references; keys carry epochs down
  to it so that remaining members keep reading records the re-key job has not reached yet.
  It rises by itself as records are re-keyed.
- The indexer records each membership change as a pending ``epoch_triggers`` row; the epoch
  watcher (:mod:`ledger_api.services.epoch_watcher`) turns them into advances.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.envelope.header import header_policy
from crypto.errors import CryptoError, PolicyError
from crypto.policy import attributes_of, parse
from crypto.policy_epochs import epoch_attribute, policy_epochs
from ledger_api.chain.consortium import unpack_text32
from ledger_api.http_errors import ForbiddenError, NotFoundError, UnprocessableError
from ledger_api.inputs import quote
from ledger_api.principal import Principal
from storage.errors import StorageError
from storage.models import (
    AccessEvent,
    AuthorityEpoch,
    EpochTrigger,
    Institution,
    Member,
    Record,
)

if TYPE_CHECKING:
    from ledger_api.context import AppContext

log = logging.getLogger("ledger_api.epochs")

FIRST_EPOCH = 1
_HEADER_EPOCHS: dict[str, int | None] = {}  # header CID -> epoch (CIDs are immutable)
_PATIENT_ONLY = ("uid:", "patient:", "role:emergency", "bg:")
_HEADER_CACHE_MAX = 200_000
FLOOR_TTL = 2.0
NO_EPOCH = 0
"""The epoch reported for a record whose policy names none (written before epochs, or by a
client that does not compose policies): stale, since no epoch bounds who opens it."""


def current_epoch(ctx: AppContext) -> int:
    """``AccessLog.currentEpoch`` (the chain is the authority on it)."""
    return ctx.chain.access_log.current_epoch()


def header_epoch(ctx: AppContext, header_cid: str) -> int | None:
    """The (lowest) epoch of a record header's policy.

    :data:`NO_EPOCH` when it names none although members could open it (written before
    epochs, or by a client that does not compose policies: stale); None when only the patient
    (and break-glass) can open it, which no membership change affects."""
    if header_cid in _HEADER_EPOCHS:
        return _HEADER_EPOCHS[header_cid]
    try:
        policy = header_policy(b"".join(ctx.store.get(header_cid)))  # checked at upload
    except (CryptoError, StorageError) as exc:
        log.warning("cannot read the header %s for its epoch: %s", header_cid, exc)
        return NO_EPOCH  # not cached: the block may come back
    epoch = policy_epoch(policy)
    if len(_HEADER_EPOCHS) >= _HEADER_CACHE_MAX:
        _HEADER_EPOCHS.clear()
    _HEADER_EPOCHS[header_cid] = epoch
    return epoch


def policy_epoch(policy: str) -> int | None:
    """See :func:`header_epoch`; from the policy text."""
    epochs = policy_epochs(policy)
    if epochs:
        return min(epochs)
    try:
        names = attributes_of(parse(policy))
    except PolicyError:
        return NO_EPOCH
    if all(n.startswith(_PATIENT_ONLY) for n in names):
        return None
    return NO_EPOCH


PATIENT_ONLY = -1
"""``records.epoch`` for a record only the patient (and break-glass) can open: no membership
change affects it (:func:`header_epoch` says None)."""
_FILL_BATCH = 1_000


def _active_records() -> sa.Select[Any]:
    return sa.select(Record).where(Record.state == "confirmed", Record.status == "active")


def stored_epoch(epoch: int | None) -> int:
    """:func:`header_epoch`'s answer as ``records.epoch`` stores it."""
    return PATIENT_ONLY if epoch is None else epoch


def record_epoch(ctx: AppContext, row: Record) -> int | None:
    """A record's epoch as :func:`header_epoch` gives it, from its row when known."""
    if row.epoch is None:
        return header_epoch(ctx, row.header_cid)
    return None if row.epoch == PATIENT_ONLY else row.epoch


def fill_record_epochs(ctx: AppContext, db: Session) -> int:
    """Derive ``records.epoch`` from the header of every active record that has none yet.

    Who leaves it NULL: rows written before migration 0010, rows the indexer inserted for
    records another API node received, and re-keys (the indexer cannot read blocks). Each is
    read once; afterwards the floor is an index lookup. The update names the header it read,
    so a re-key that lands meanwhile is not overwritten with the old header's epoch. A header
    that cannot be read stays NULL (the block may come back) and is tried again next time."""
    filled = 0
    after: str | None = None
    while True:
        query = sa.select(Record.record_id, Record.header_cid).where(
            Record.status == "active", Record.state == "confirmed", Record.epoch.is_(None)
        )
        if after is not None:
            query = query.where(Record.record_id > after)
        rows = db.execute(query.order_by(Record.record_id).limit(_FILL_BATCH)).all()
        if not rows:
            return filled
        after = rows[-1].record_id
        updates = []
        for record_id, cid in rows:
            if cid not in _HEADER_EPOCHS:
                header_epoch(ctx, cid)
            if cid in _HEADER_EPOCHS:  # read (unreadable headers are not cached)
                updates.append(
                    {"rid": record_id, "cid": cid, "e": stored_epoch(_HEADER_EPOCHS[cid])}
                )
        if updates:
            table = Record.__table__
            db.execute(
                sa.update(table)
                .where(
                    table.c.record_id == sa.bindparam("rid"),
                    table.c.header_cid == sa.bindparam("cid"),
                    table.c.epoch.is_(None),
                )
                .values(epoch=sa.bindparam("e")),
                updates,
            )
            filled += len(updates)


def floor_epoch(ctx: AppContext, db: Session, *, current: int | None = None) -> int:
    """The oldest epoch an active record still references (``current`` if none does).

    One MIN over the ``(status, state, epoch)`` index (issue 17: the floor used to read
    every active record's header, O(records)); rows whose epoch is not derived yet are filled
    first (:func:`fill_record_epochs`: an index probe when there are none). The result is
    still reused for :data:`FLOOR_TTL` seconds while the epoch stays the same, since every
    client asks ``GET /keys/public`` every few seconds. A re-key, which can raise the floor,
    forgets the cached value (:func:`forget_floor`)."""
    current = current_epoch(ctx) if current is None else current
    now = time.monotonic()
    cached = ctx.epoch_floor
    if cached is not None and cached[1] == current and now - cached[0] < FLOOR_TTL:
        return cached[2]
    fill_record_epochs(ctx, db)
    lowest = db.scalar(
        sa.select(sa.func.min(Record.epoch)).where(
            Record.status == "active",
            Record.state == "confirmed",
            Record.epoch >= FIRST_EPOCH,
        )
    )
    floor = max(FIRST_EPOCH, min(current, lowest) if lowest is not None else current)
    ctx.epoch_floor = (now, current, floor)
    return floor


def forget_floor(ctx: AppContext) -> None:
    """Drop the cached floor (after a re-key: the floor may have risen)."""
    ctx.epoch_floor = None


def key_epochs(ctx: AppContext, db: Session) -> tuple[int, int]:
    """``(floor, current)``: a clinician's key carries ``epoch:floor`` … ``epoch:current``."""
    current = current_epoch(ctx)
    return floor_epoch(ctx, db, current=current), current


def current_key_attributes(ctx: AppContext, principal: Principal) -> tuple[str, ...]:
    """The attributes a key issued to ``principal`` now carries, for checking that a record's
    policy admits them (record policies require the current epoch of members)."""
    attributes = principal.abe_attributes()
    if principal.is_member:
        return (*attributes, epoch_attribute(current_epoch(ctx)))
    return attributes


def custodian_codes(db: Session, principal: Principal) -> list[str]:
    """The ``custodian:`` code ``principal`` may hold: that of the active institution they
    administer AND belong to as an active doctor or nurse (issue 14: a consortium admin who
    administers three institutions but is a patient, or a clinician elsewhere, holds none —
    the contract lets only the author institution's active clinicians re-key)."""
    if not principal.is_clinician or not principal.institution_id:
        return []
    row = db.get(Institution, principal.institution_id)
    if row is None or not row.active or row.admin.lower() != principal.address.lower():
        return []
    return [_code_text(row.code).casefold()]


def _code_text(code: str) -> str:
    """An institution code as text (the index keeps the ``bytes32`` hex of the event)."""
    if code.startswith("0x") and len(code) == 66:
        return unpack_text32(bytes.fromhex(code[2:]))
    return code


def institution_by_code(db: Session, code: str) -> Institution | None:
    wanted = code.strip().casefold()
    for row in db.scalars(sa.select(Institution)):
        if _code_text(row.code).casefold() == wanted:
            return row
    return None


def list_stale(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    institution: str | None = None,
    patient: str | None = None,
) -> tuple[int, list[StaleRecord]]:
    """The stale records a caller may re-key: their own chart (a patient), or those
    authored by an institution they administer or belong to (its custodian and clinicians,
    whom RecordRegistry lets re-key)."""
    if (institution is None) == (patient is None):
        raise UnprocessableError(
            "give exactly one of institution or patient", code="invalid_request"
        )
    if patient is not None:
        if patient.lower() != principal.address.lower():
            raise ForbiddenError(
                "a patient lists only their own stale records", code="not_record_manager"
            )
        return stale_records(ctx, db, patient=patient)
    row = institution_by_code(db, str(institution))
    if row is None:
        raise NotFoundError(f"no institution {quote(institution)}", code="institution_not_found")
    admin = row.admin.lower() == principal.address.lower()
    member = principal.is_member and principal.institution_id == row.institution_id
    if has_left(db, principal) or not (admin or member):
        raise ForbiddenError(
            f"only the admin or members of {institution} list its stale records",
            code="not_record_manager",
        )
    return stale_records(ctx, db, institution_id=row.institution_id)


def has_left(db: Session, principal: Principal) -> bool:
    """A caller who was a member and is no longer one (suspended or removed).

    The API's half of member revocation: such a caller is refused at once, whatever consent
    named their address while they were a member; the key they kept is bounded by the epochs.
    Read from the index, not from the principal (which may be cached for a moment)."""
    row = db.get(Member, principal.address.lower())
    return row is not None and (row.removed or not row.active)


def custodian_may_rekey(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record
) -> bool:
    """Whether ``principal`` may read ``record`` to re-key it as its institution's custodian.

    The custodian is the admin of the record's author institution; RecordRegistry lets only
    the patient and the author institution's active clinicians re-key, so the admin must be
    one. Only a record under an older epoch qualifies: custody is for re-keying after a
    member left, not a way around consent (checked in that order: no I/O for other callers)."""
    institution = record.author_institution
    if not institution or not principal.is_clinician or principal.institution_id != institution:
        return False
    row = db.get(Institution, institution)
    if row is None or not row.active or row.admin.lower() != principal.address.lower():
        return False
    epoch = record_epoch(ctx, record)
    if epoch is None or epoch >= current_epoch(ctx):
        return False
    # stale because of a membership change in the author's own institution (the epoch is
    # global: a change anywhere else must not open this institution's records to its admin)
    return _changed_since(db, institution=institution, epoch=epoch)


def _changed_since(db: Session, *, institution: int, epoch: int) -> bool:
    """Whether a membership change of ``institution`` moved the epoch past ``epoch``."""
    members = sa.select(Member.address).where(Member.institution_id == institution)
    found = db.scalar(
        sa.select(EpochTrigger.id)
        .where(
            EpochTrigger.epoch > epoch,
            sa.or_(
                EpochTrigger.institution_id == institution,
                EpochTrigger.account.in_(members),
            ),
        )
        .limit(1)
    )
    return found is not None


# --------------------------------------------------------------------------- stale records


@dataclass(frozen=True)
class StaleRecord:
    """A record whose policy predates the current epoch, and how it must be re-keyed."""

    record_id: str
    patient: str
    author: str | None
    author_institution: int | None
    epoch: int
    full: bool
    fetched_by: list[str] = field(default_factory=list)


def _leavers_since(db: Session, epoch: int) -> set[str]:
    """Accounts whose membership changed in an advance past ``epoch`` (members of a
    suspended institution included)."""
    triggers = db.scalars(sa.select(EpochTrigger).where(EpochTrigger.epoch > epoch)).all()
    accounts = {t.account.lower() for t in triggers if t.account}
    institutions = {t.institution_id for t in triggers if t.kind == "institution_suspended"}
    if institutions:
        accounts |= {
            a.lower()
            for a in db.scalars(
                sa.select(Member.address).where(Member.institution_id.in_(institutions))
            )
        }
    return accounts


def stale_records(
    ctx: AppContext,
    db: Session,
    *,
    institution_id: int | None = None,
    patient: str | None = None,
) -> tuple[int, list[StaleRecord]]:
    """The current epoch and the active records (of an author institution or a patient)
    whose policy uses an older epoch.

    Every stale record needs a full re-key (issue 14's rule: moving a policy to a newer epoch
    narrows it, and a header-only rewrap would keep the data key an old-epoch key can open
    through a kept header). ``fetched_by`` names those who left since the record's epoch and
    have a granted read of it on chain (the index of ``AccessLogged``): the members who may
    hold its data key, for the report."""
    current = current_epoch(ctx)
    query = _active_records().order_by(Record.block_number, Record.record_id)
    if institution_id is not None:
        query = query.where(Record.author_institution == institution_id)
    if patient is not None:
        query = query.where(Record.patient == patient.lower())
    found: list[StaleRecord] = []
    leavers_by_epoch: dict[int, set[str]] = {}
    for row in db.scalars(query):
        epoch = record_epoch(ctx, row)
        if epoch is None or epoch >= current:
            continue
        if epoch not in leavers_by_epoch:
            leavers_by_epoch[epoch] = _leavers_since(db, epoch)
        leavers = leavers_by_epoch[epoch]
        readers = (
            {
                a.lower()
                for a in db.scalars(
                    sa.select(AccessEvent.accessor).where(
                        AccessEvent.record_id == row.record_id,
                        AccessEvent.granted.is_(True),
                        AccessEvent.accessor.in_(leavers),
                    )
                )
            }
            if leavers
            else set()
        )
        found.append(
            StaleRecord(
                record_id=row.record_id,
                patient=row.patient,
                author=row.author,
                author_institution=row.author_institution,
                epoch=epoch,
                full=True,
                fetched_by=sorted(readers),
            )
        )
    return current, found


def epoch_history(db: Session) -> list[AuthorityEpoch]:
    return list(db.scalars(sa.select(AuthorityEpoch).order_by(AuthorityEpoch.epoch)))
