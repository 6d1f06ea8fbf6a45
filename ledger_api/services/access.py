"""Access decisions on record content, each one logged on chain before a byte is served.

DESIGN "Retrieve": every read attempt, granted or denied, becomes an ``AccessLogged`` event.
The order is the point: the decision is taken from on-chain state (``ConsentManager``), the
log transaction is sent and mined, and its index row is committed — only then does the route
stream the header or body, or answer 403. A process that dies after that still leaves the
attempt on chain; one that dies before it has served nothing.

Why the receipt is awaited rather than only the transaction queued: the index row of an
access (``access_events``) is keyed by its on-chain position (tx hash, log index, block), so
the durable local trace exists only once the transaction is mined. Under load the wait is
shared: concurrent decisions are coalesced into one ``logAccessBatch`` per round trip by
:class:`~ledger_api.services.access_queue.AccessLogQueue` (about one transaction per block).

Decision order (first match wins): the patient reading their own record; a consent naming the
caller's address (``isAllowed``); for the purposes ``referral`` and ``consultation``, a live
workflow that carries the record to the caller (:mod:`ledger_api.services.workflow_access`)
and nothing else — a policy consent for a workflow purpose grants only through its workflow,
so it stops granting when the workflow ends, and one relayed for a workflow that then failed
grants nothing; for other purposes, a consent naming an attribute policy the caller's key
attributes satisfy (``isAllowedForPolicy``, tried for each such consent the index knows the
policy text of); otherwise denied. For the purpose ``emergency``, an open break-glass
window of the caller on the record's patient grants first (:mod:`ledger_api.services.break_glass`,
reason ``BREAK_GLASS``); a denial then says whether the caller's window ended
(``BREAK_GLASS_EXPIRED``) or there was none (``NO_BREAK_GLASS``). Auditors get no special
right to content. Member revocation (:mod:`ledger_api.services.epochs`): a suspended or removed
member is refused right after the patient check (``MEMBER_LEFT``), whatever consent named
them. (The custodian path, ``CUSTODIAN_REKEY``, read a record under an older *global* epoch
to re-key it; epochs are per institution now and the re-key job runs client-side, so the API
grants it to no one: the code stays in the enum for events already on chain.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, NamedTuple

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session
from web3.exceptions import Web3Exception

from crypto.errors import PolicyError
from crypto.policy import satisfies
from crypto.signing import ZERO_BYTES32, AppReadRequest, Purpose
from ledger_api.chain.access_log import AccessEntry, AppAccessEntry
from ledger_api.chain.errors import ChainError
from ledger_api.http_errors import ServiceUnavailableError, UnprocessableError
from ledger_api.indexer.sql import upsert
from ledger_api.inputs import is_ascii_digits, quote
from ledger_api.principal import Principal
from ledger_api.services import epochs, workflow_access
from ledger_api.services.access_grounds import consent_ground
from ledger_api.services.access_queue import AccessLogQueue
from ledger_api.services.break_glass_queries import open_window
from ledger_api.services.read_requests import SignedRead, check_read
from ledger_api.services.workflow_access import WORKFLOW_PURPOSES
from ledger_api.smart.reads import AppRead, app_refusal
from storage.models import AccessEvent, Consent, Record, to_address

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = [
    "Decision",
    "Reason",
    "Verdict",
    "chain_required",
    "decide",
    "decide_and_log",
    "log_decision",
    "parse_purpose",
]

# A log transaction that is not mined within this many seconds fails the read (503): no byte
# may be served for an attempt that is not on chain.
LOG_RECEIPT_TIMEOUT = 30.0


class Reason(IntEnum):
    """The ``reasonCode`` logged with each decision (stable: auditors filter on it)."""

    SELF = 0
    CONSENT = 1
    POLICY_CONSENT = 2
    WORKFLOW = 3
    BREAK_GLASS = 4
    CUSTODIAN_REKEY = 5  # no longer granted (global epochs are gone); kept for old events
    NO_CONSENT = 10
    RECORD_WITHDRAWN = 11
    NO_BREAK_GLASS = 12
    BREAK_GLASS_EXPIRED = 13
    MEMBER_LEFT = 14  # a suspended or removed member: refused even under an old consent
    # reads the user's page makes for a SMART app (ledger_api.smart.reads)
    APP_SCOPE = 15  # the record's type is outside the app's token scopes
    APP_PATIENT = 16  # the record is another patient's than the token's
    APP_REVOKED = 17  # the patient revoked the app on chain


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The outcome of one read attempt and where its log entry is on chain."""

    granted: bool
    reason: Reason
    purpose: Purpose
    tx_hash: str | None = None
    block_number: int | None = None
    log_index: int | None = None
    repeated: bool = False  # a repeat counted on an earlier identical denial's entry


def parse_purpose(value: str | int | None) -> Purpose:
    """A purpose given by name (``treatment``) or code (``0``); default treatment."""
    if value is None or value == "":
        return Purpose.TREATMENT
    text = str(value).strip()
    if text.isascii():  # no Unicode case-mapping surprises ("ı".upper() == "I")
        by_code = {str(int(p)): p for p in Purpose}
        by_name = {p.name.lower(): p for p in Purpose}
        found = by_code.get(str(int(text))) if is_ascii_digits(text) else by_name.get(text.lower())
        if found is not None:
            return found
    names = ", ".join(p.name.lower() for p in Purpose)
    raise UnprocessableError(
        f"unknown purpose {quote(value)}; use one of {names} or their codes 0-{max(Purpose)}",
        code="invalid_purpose",
        details={"purpose": str(value)},
    )


@contextmanager
def chain_required(what: str) -> Iterator[None]:
    """Turn a chain that cannot answer into 503: without it no access can be decided or
    logged, and serving anyway would break the rule that every read is on chain first."""
    try:
        yield
    except (ChainError, requests.RequestException, OSError, Web3Exception) as exc:
        raise ServiceUnavailableError(
            f"{what}: the chain is unavailable ({exc})", code="chain_unavailable"
        ) from exc


def _policy_consents(
    db: Session, *, patient: str, record_id: str, purpose: Purpose, now: int
) -> list[Consent]:
    """Policy consents of ``patient`` in force (by the index) that may cover ``record_id``."""
    query = sa.select(Consent).where(
        Consent.patient == to_address(patient),
        Consent.grantee_policy_hash.is_not(None),
        Consent.policy_text.is_not(None),
        Consent.revoked.is_(False),
        Consent.purpose == int(purpose),
        Consent.not_before <= now,
        Consent.expires_at > now,
        sa.or_(Consent.record_id.is_(None), Consent.record_id == record_id),
    )
    return list(db.scalars(query))


class Verdict(NamedTuple):
    """A decision before it is logged: granted or not, why, and what grants it (a consent,
    referral, consultation or opening id; zero for a denial or the patient's own read)."""

    granted: bool
    reason: Reason
    justification: bytes = ZERO_BYTES32


def decide(
    *, ctx: AppContext, db: Session, principal: Principal, record: Record, purpose: Purpose
) -> Verdict:
    """Whether ``principal`` may read ``record``'s content for ``purpose`` (no logging)."""
    caller = principal.address.lower()
    if caller == record.patient:
        return Verdict(True, Reason.SELF)
    if record.status == "withdrawn":
        return Verdict(False, Reason.RECORD_WITHDRAWN)
    if epochs.has_left(db, principal):
        return Verdict(False, Reason.MEMBER_LEFT)
    record_id = bytes.fromhex(record.record_id[2:])
    window = "none"
    if purpose == Purpose.EMERGENCY:
        window, opening = open_window(ctx=ctx, db=db, principal=principal, patient=record.patient)
        if window == "open" and opening is not None:
            return Verdict(True, Reason.BREAK_GLASS, _bytes32(opening))
    consents = ctx.chain.consents
    if consents.is_allowed(
        patient=record.patient, grantee=principal.address, record_id=record_id, purpose=purpose
    ):
        ground = consent_ground(ctx=ctx, db=db, principal=principal, record=record, purpose=purpose)
        return Verdict(True, Reason.CONSENT, ground)
    if purpose in WORKFLOW_PURPOSES:
        workflow = workflow_access.may_read(
            ctx=ctx, db=db, principal=principal, record=record, purpose=purpose
        )
        if workflow is not None:
            return Verdict(True, Reason.WORKFLOW, _bytes32(workflow))
        return Verdict(False, Reason.NO_CONSENT)
    attributes = principal.abe_attributes()
    now = int(time.time())
    for consent in _policy_consents(
        db, patient=record.patient, record_id=record.record_id, purpose=purpose, now=now
    ):
        try:
            covered = satisfies(consent.policy_text or "", attributes)
        except PolicyError:
            continue  # an unparsable stored policy grants nothing
        if covered and consents.is_allowed_for_policy(
            patient=record.patient,
            policy_hash=bytes.fromhex(consent.grantee_policy_hash[2:]),  # type: ignore[index]
            record_id=record_id,
            purpose=purpose,
        ):
            return Verdict(True, Reason.POLICY_CONSENT, _bytes32(consent.consent_id))
    if purpose == Purpose.EMERGENCY:
        expired = window == "expired"
        return Verdict(False, Reason.BREAK_GLASS_EXPIRED if expired else Reason.NO_BREAK_GLASS)
    return Verdict(False, Reason.NO_CONSENT)


def _bytes32(hex_id: str) -> bytes:
    return bytes.fromhex(hex_id[2:])


_APP_REASONS = {
    "scope": Reason.APP_SCOPE,
    "patient": Reason.APP_PATIENT,
    "revoked": Reason.APP_REVOKED,
}

_QUEUE_LOCK = threading.Lock()


def access_queue(ctx: AppContext) -> AccessLogQueue:
    """The process's one access-log queue (kept on the context, created on first use)."""
    if ctx.access_queue is None:
        with _QUEUE_LOCK:
            if ctx.access_queue is None:
                ctx.access_queue = AccessLogQueue(
                    ctx.chain.access_log, receipt_timeout=LOG_RECEIPT_TIMEOUT
                )
    return ctx.access_queue


def coalesce_denial(
    *, ctx: AppContext, principal: Principal, record: Record, purpose: Purpose, reason: Reason
) -> Decision | None:
    """The logged entry of the same denial (reader, record, purpose, reason) within the last
    ``denial_coalesce_seconds``, with its repeat count raised; None when there is none.

    Why: a reader refused again and again would otherwise cost a transaction and an entry in
    the patient's access history each time (the issue's 20 denied reads in 0.8 s). The first
    denial is on chain as ever (with its signed request, when reads carry one); the repeats
    are counted in its index row (``repeats``, ``last_repeat_at``), which auditors see. Two
    identical denials at the same instant may both be logged: the window bounds the cost,
    it does not promise exactly one entry."""
    window = ctx.settings.denial_coalesce_seconds
    if window <= 0:
        return None
    now = int(time.time())
    with ctx.sessions() as writer:
        first = writer.scalars(
            sa.select(AccessEvent)
            .where(
                AccessEvent.accessor == principal.address.lower(),
                AccessEvent.record_id == record.record_id,
                AccessEvent.granted.is_(False),
                AccessEvent.purpose == int(purpose),
                AccessEvent.reason_code == int(reason),
                AccessEvent.block_time >= now - window,
            )
            .order_by(AccessEvent.block_number, AccessEvent.log_index)
            .limit(1)
        ).first()
        if first is None:
            return None
        writer.execute(
            sa.update(AccessEvent)
            .where(AccessEvent.id == first.id)
            .values(repeats=AccessEvent.repeats + 1, last_repeat_at=now)
        )
        writer.commit()
        # a decision all the same (the metric counts decisions; the sent ones are counted
        # from their transactions by the metered relayer)
        ctx.metrics.access_decision(granted=False, reason=int(reason))
        return Decision(
            granted=False,
            reason=reason,
            purpose=purpose,
            tx_hash=first.tx_hash,
            block_number=first.block_number,
            log_index=first.log_index,
            repeated=True,
        )


def log_decision(
    *,
    ctx: AppContext,
    principal: Principal,
    record: Record,
    purpose: Purpose,
    verdict: Verdict,
    signed: SignedRead,
    app: AppRead | None = None,
) -> Decision:
    """Log the decision on chain with the reader's signed request and what justified it
    (through the queue, possibly batched with concurrent ones), then commit its index row
    (idempotent with the indexer, which inserts the same (tx hash, log index) and skips
    duplicates). A denial identical to one logged in the coalescing window is counted on
    that entry instead (:func:`coalesce_denial`)."""
    granted, reason = verdict.granted, verdict.reason
    if not granted and app is None:
        repeated = coalesce_denial(
            ctx=ctx, principal=principal, record=record, purpose=purpose, reason=reason
        )
        if repeated is not None:
            return repeated
    decision = {
        "accessor": principal.address,
        "granted": granted,
        "reason_code": int(reason),
        "justification": verdict.justification if granted else ZERO_BYTES32,
    }
    app_ids: dict[str, str | None] = {"app_id": None, "client_id_hash": None}
    if isinstance(signed.request, AppReadRequest):
        app_entry = AppAccessEntry.for_request(signed.request, signed.signature, **decision)
        entry = app_entry.entry
        app_ids = {
            "app_id": "0x" + app_entry.app_id.hex(),
            "client_id_hash": "0x" + app_entry.client_id.hex(),
        }
        logged = access_queue(ctx).submit(app_entry)
    else:
        entry = AccessEntry.for_request(signed.request, signed.signature, **decision)
        logged = access_queue(ctx).submit(entry)
    block_time = logged.block_time
    if block_time is None:  # a node whose logs do not carry blockTimestamp
        block_time = int(ctx.chain.w3.eth.get_block(logged.block_number)["timestamp"])
    row = {
        "record_id": record.record_id,
        "patient": record.patient,
        "accessor": principal.address.lower(),
        "purpose": int(purpose),
        "granted": granted,
        "reason_code": int(reason),
        "block_number": logged.block_number,
        "block_time": block_time,
        "tx_hash": logged.tx_hash.lower(),
        "log_index": logged.log_index,
        "part": int(entry.part),
        "justification": "0x" + entry.justification.hex(),
        "request_issued_at": entry.issued_at,
        "request_nonce": str(entry.nonce),
        "reader_signature": "0x" + entry.signature.hex() if entry.signature else None,
        **app_ids,
    }
    # A session of its own: the caller's session has been reading (a SQLite reader cannot
    # upgrade to a writer once another connection, the indexer, has committed meanwhile).
    with ctx.sessions() as writer:
        stmt = upsert(writer.connection(), AccessEvent.__table__).on_conflict_do_nothing(
            index_elements=["tx_hash", "log_index"]
        )
        writer.execute(stmt, [row])
        writer.commit()
    return Decision(
        granted=granted,
        reason=reason,
        purpose=purpose,
        tx_hash=logged.tx_hash,
        block_number=logged.block_number,
        log_index=logged.log_index,
    )


def decide_and_log(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    record: Record,
    purpose: Purpose,
    signed: SignedRead,
    on_denial: Callable[[], None] | None = None,
    app: AppRead | None = None,
) -> Decision:
    """Check the reader's signed request, decide, then log the decision on chain (with the
    request) and in the index; the caller serves bytes only when ``granted`` and answers 403
    otherwise (the denial is already logged).

    For a read made for a SMART app (``app``), the app's token must allow the record first
    (its scopes, its patient, no revocation on chain); then the user's own right decides.

    ``on_denial`` runs between a denial and its logging and may refuse it (the denied-reads
    rate limit: a 429 that costs no transaction and adds nothing to the patient's history)."""
    check_read(ctx=ctx, principal=principal, signed=signed)
    with chain_required("cannot decide the access"):
        refusal = app_refusal(ctx=ctx, app=app, record=record) if app is not None else None
        if refusal is not None:
            verdict = Verdict(False, _APP_REASONS[refusal])
        else:
            verdict = decide(ctx=ctx, db=db, principal=principal, record=record, purpose=purpose)
    if not verdict.granted and on_denial is not None:
        on_denial()
    with chain_required("cannot log the access decision"):
        return log_decision(
            ctx=ctx,
            principal=principal,
            record=record,
            purpose=purpose,
            verdict=verdict,
            signed=signed,
            app=app,
        )
