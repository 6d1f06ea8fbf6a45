"""Break-glass emergency access: open and review (the key: :mod:`.break_glass_keys`; the read
gate and listings: :mod:`.break_glass_queries`).

Design (``docs/break-glass.md``):

- **open** — an active doctor of an active institution states a reason (10–500 characters);
  the API relays ``EmergencyAccess.openBreakGlass`` (the contract checks the actor against
  Consortium again), waits for the receipt, writes the index row with the reason text (the
  chain has its keccak) and answers the opening's id and end of window. A clinician's openings
  per UTC day of *chain* time are capped (``break_glass_daily_cap``, counted on chain by
  ``openingsOn``); beyond the cap a second active doctor's EIP-712 ``BreakGlassCosign`` is
  required (429 ``break_glass_cap`` without it), checked here and by the contract. Every
  refusal happens before anything is written.
- **key** — during its window, the opening's clinician gets an emergency key with exactly the
  attributes ``role:emergency``, ``patient:<address>`` and the break-glass counters
  ``bg:<floor>`` … ``bg:<j-1>`` of opening ``j`` (no uid, no dept), sealed to their X25519
  key, its issuance logged on chain (``AccessLog.logKeyIssued``, holder = the clinician)
  before it is returned (:mod:`.break_glass_keys`). Every record policy composed by the SDK
  ORs in ``(role:emergency and patient:<patient> and bg:<n>)``, ``n`` the chart's opening
  count when it was encrypted, so this key opens that patient's records written before the
  opening and no other patient's. A ``patient:<0x…40 hex>`` attribute is 50 characters,
  longer than a Consortium attribute (``bytes32``) can be, so no regular member key can carry
  one.
- **gate** — ``?purpose=emergency`` reads are granted while the caller, still an active doctor,
  has an opening for the record's patient whose window has not ended by chain time (the
  key cannot expire by itself; the API's gate is what is short-lived).
- **review** — an active auditor records justified / not justified with a note (its keccak on
  chain, the text in the index); a reviewed opening leaves the queue.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import is_address, to_checksum_address
from sqlalchemy.orm import Session

from crypto.errors import SigningError
from crypto.signing import BreakGlassCosign, cosign_domain, recover_cosign
from ledger_api.chain.consortium import Role
from ledger_api.chain.emergency import text_hash
from ledger_api.chain.errors import ChainError, InvalidChainInputError, TransactionRevertedError
from ledger_api.http_errors import (
    ApiError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
)
from ledger_api.indexer.apply import apply_events
from ledger_api.indexer.decode import EventDecoder
from ledger_api.inputs import is_hex32, quote
from ledger_api.principal import Principal
from ledger_api.services.access import chain_required
from ledger_api.services.break_glass_queries import opening_view
from ledger_api.services.chain_time import block_time, latest_block_time
from storage.models.emergency import BreakGlassEvent

if TYPE_CHECKING:
    from ledger_api.chain.contract import Mined, PendingTx
    from ledger_api.context import AppContext

log = logging.getLogger("ledger_api.break_glass")

REASON_MIN, REASON_MAX = 10, 500
NOTE_MAX = 1000

_REVERTS: dict[str, tuple[type[ApiError], str]] = {
    "EmergencyAccessUnauthorized": (ForbiddenError, "not_allowed"),
    "EmergencyAccessInvalidCosignature": (UnprocessableError, "invalid_cosignature"),
    "EmergencyAccessCosignatureExpired": (UnprocessableError, "invalid_cosignature"),
    "EmergencyAccessInvalidPatient": (UnprocessableError, "invalid_patient"),
    "EmergencyAccessDuplicateId": (ConflictError, "duplicate_id"),
    "EmergencyAccessUnknownId": (NotFoundError, "break_glass_not_found"),
    "EmergencyAccessAlreadyReviewed": (ConflictError, "already_reviewed"),
}


@dataclass(frozen=True, kw_only=True)
class Cosignature:
    """A second doctor's ``BreakGlassCosign`` as sent by the clinician's client."""

    co_signer: str
    deadline: int
    signature: bytes


# --------------------------------------------------------------------------- checks


def require_doctor(principal: Principal) -> None:
    if not (principal.is_member and principal.role == "doctor"):
        raise ForbiddenError(
            "break-glass access is for active doctors of active institutions",
            code="not_a_doctor",
            details={"role": principal.role},
        )


def _reason(text: str) -> str:
    cleaned = text.strip()
    if not REASON_MIN <= len(cleaned) <= REASON_MAX:
        raise UnprocessableError(
            f"the reason must be {REASON_MIN} to {REASON_MAX} characters, got {len(cleaned)}",
            code="invalid_reason",
        )
    return cleaned


def _patient(value: str, principal: Principal) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise UnprocessableError(
            f"patient is not an address: {quote(value)}", code="invalid_patient"
        )
    patient = to_checksum_address(value)
    if patient == principal.address:
        raise UnprocessableError(
            "a clinician cannot break the glass on their own chart", code="invalid_patient"
        )
    return patient


def _check_cosignature(
    ctx: AppContext,
    cosig: Cosignature,
    *,
    clinician: str,
    patient: str,
    reason_hash: bytes,
    now: int,
) -> str:
    """The co-signer's checksummed address, or a 422 ``invalid_cosignature``."""

    def bad(why: str) -> UnprocessableError:
        return UnprocessableError(f"invalid co-signature: {why}", code="invalid_cosignature")

    if not is_address(cosig.co_signer):
        raise bad(f"co_signer is not an address: {quote(cosig.co_signer)}")
    co_signer = to_checksum_address(cosig.co_signer)
    if co_signer == clinician:
        raise bad("the co-signer must be a second doctor, not the clinician")
    if cosig.deadline < now:
        raise bad(f"its deadline {cosig.deadline} has passed (chain time {now})")
    domain = cosign_domain(
        chain_id=ctx.deployment.chain_id,
        verifying_contract=ctx.deployment.address("EmergencyAccess"),
    )
    item = BreakGlassCosign(
        clinician=clinician, patient=patient, reason_hash=reason_hash, deadline=cosig.deadline
    )
    try:
        signer = recover_cosign(domain, item, cosig.signature)
    except SigningError as exc:
        raise bad(str(exc)) from exc
    if signer != co_signer:
        raise bad(f"signed by {signer}, not by {co_signer} (or for another patient or reason)")
    info = ctx.chain.consortium.member_info(co_signer)
    if not (info.active and info.role == Role.DOCTOR and info.institution_id):
        raise bad(f"{co_signer} is not an active doctor")
    return co_signer


# --------------------------------------------------------------------------- chain


def _send(pending: Callable[[], PendingTx]) -> Mined:
    try:
        return pending().wait()
    except TransactionRevertedError as exc:
        mapped = _REVERTS.get(exc.error_name)
        if mapped is None:
            raise ServiceUnavailableError(
                f"EmergencyAccess refused: {exc}", code="chain_rejected"
            ) from exc
        cls, code = mapped
        raise cls(str(exc), code=code, details={"error": exc.error_name}) from exc
    except InvalidChainInputError as exc:
        raise UnprocessableError(str(exc), code="invalid_input") from exc
    except ChainError as exc:
        raise ServiceUnavailableError(
            f"chain unavailable: {exc}", code="chain_unavailable"
        ) from exc


def _index_receipt(ctx: AppContext, db: Session, mined: Mined) -> None:
    """Write the receipt's EmergencyAccess events with the indexer's own handlers."""
    address = ctx.deployment.address("EmergencyAccess")
    decoder = EventDecoder({address: ("EmergencyAccess", ctx.chain.emergency.contract.abi)})
    with chain_required("the transaction is mined but its block cannot be read"):
        when = block_time(ctx, mined.block_number)
    events = [e for e in (decoder.decode(raw, when) for raw in mined.receipt.logs) if e]
    apply_events(db.connection(), events)


def opening_row(db: Session, opening_id: str) -> BreakGlassEvent:
    if not is_hex32(opening_id):  # checked before the lookup: a non-hex key was a 500
        raise UnprocessableError(
            f"not an opening id (0x + 64 hex digits): {quote(opening_id)}", code="invalid_id"
        )
    text = opening_id.lower()
    row = db.get(BreakGlassEvent, text)
    if row is None:
        raise NotFoundError(f"no break-glass opening {opening_id}", code="break_glass_not_found")
    return row


# --------------------------------------------------------------------------- services


def open_break_glass(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    patient: str,
    reason: str,
    cosignature: Cosignature | None = None,
) -> dict[str, Any]:
    """Open ``patient``'s chart for emergency use by ``principal``; see the module docstring."""
    require_doctor(principal)
    patient = _patient(patient, principal)
    reason = _reason(reason)
    reason_hash = text_hash(reason)
    settings = ctx.settings
    with chain_required("cannot check the break-glass rate limit"):
        now = latest_block_time(ctx)
        today = ctx.chain.emergency.openings_on(principal.address, now // 86_400)
        co_signer = None
        if cosignature is not None:
            co_signer = _check_cosignature(
                ctx,
                cosignature,
                clinician=principal.address,
                patient=patient,
                reason_hash=reason_hash,
                now=now,
            )
    if today >= settings.break_glass_daily_cap and co_signer is None:
        raise ApiError(
            f"{principal.address} already opened {today} break-glass accesses today (cap "
            f"{settings.break_glass_daily_cap}); a second doctor's co-signature is required",
            code="break_glass_cap",
            status_code=429,
            details={"today": today, "cap": settings.break_glass_daily_cap},
        )
    opening_id = secrets.token_bytes(32)
    db.rollback()  # end the read snapshot before writing (see workflow_ledger.release_snapshot)
    mined = _send(
        lambda: ctx.chain.emergency.open_break_glass(
            actor=principal.address,
            opening_id=opening_id,
            patient=patient,
            reason_hash=reason_hash,
            window=settings.break_glass_window_seconds,
            co_signer=co_signer or "0x" + "00" * 20,
            cosign_deadline=cosignature.deadline if cosignature and co_signer else 0,
            cosignature=cosignature.signature if cosignature and co_signer else b"",
        )
    )
    _index_receipt(ctx, db, mined)
    row = opening_row(db, "0x" + opening_id.hex())
    row.reason = reason
    db.commit()
    log.warning(
        "break-glass opened",
        extra={"clinician": principal.address, "patient": patient, "tx_hash": mined.tx_hash},
    )
    return opening_view(row, now=now)


def review(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    opening_id: str,
    justified: bool,
    note: str,
) -> dict[str, Any]:
    """An active auditor's review of an opening, on chain then in the index."""
    if not (principal.is_member and principal.role == "auditor"):
        raise ForbiddenError(
            "reviews are recorded by active auditors", details={"role": principal.role}
        )
    note = note.strip()
    if not 1 <= len(note) <= NOTE_MAX:
        raise UnprocessableError(
            f"the review note must be 1 to {NOTE_MAX} characters", code="invalid_note"
        )
    row = opening_row(db, opening_id)
    if row.reviewed:
        raise ConflictError(
            f"opening {row.opening_id} was already reviewed", code="already_reviewed"
        )
    key = row.opening_id
    db.rollback()
    mined = _send(
        lambda: ctx.chain.emergency.review(
            auditor=principal.address,
            opening_id=bytes.fromhex(key[2:]),
            justified=justified,
            note_hash=text_hash(note),
        )
    )
    _index_receipt(ctx, db, mined)
    row = opening_row(db, key)
    row.review_note = note
    db.commit()
    with chain_required("cannot read the chain time"):
        now = latest_block_time(ctx)
    return opening_view(row, now=now)
