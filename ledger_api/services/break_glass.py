"""Break-glass emergency access: open and review (the read gate and listings:
:mod:`.break_glass_queries`).

Design (``docs/break-glass.md``):

- **open** — an active doctor of an active institution states a reason (10–500 characters)
  and signs a ``BreakGlassOpen`` (the opening id they chose, the patient, the reason's
  keccak, the window, a deadline); the API rebuilds it, checks the signature is the caller's
  and relays ``EmergencyAccess.openBreakGlass`` (the contract recovers the opener and checks
  them against Consortium again), waits for the receipt, writes the index row with the reason
  text (the chain has its keccak) and answers the opening's id and end of window. A
  clinician's openings per UTC day of *chain* time are capped by the contract (``dailyCap``,
  set by the consortium admin; counted by ``openingsOn``); beyond the cap a second active
  doctor's EIP-712 ``BreakGlassCosign`` bound to this opening id, valid for at most an hour,
  is required. The API pre-checks the cap and the co-signature for a clear answer (429
  ``break_glass_cap``, 422 ``invalid_cosignature``); concurrent openings that all pass the
  pre-check are refused by the chain past the cap, with the same codes. Every refusal happens
  before anything is written.
- **key** — the API issues none. A record's emergency slot (envelope v3) opens only with the
  decryption shares of t of the n institutions' authorities, each of which checks the live
  opening on chain and logs its release (``docs/break-glass.md``).
- **gate** — ``?purpose=emergency`` reads are granted while the caller, still an active doctor,
  has an opening for the record's patient whose window has not ended by chain time (the
  key cannot expire by itself; the API's gate is what is short-lived).
- **review** — an active auditor signs a ``BreakGlassReview`` (justified / not justified and
  the note's keccak; the text goes to the index); a reviewed opening leaves the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import is_address
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.errors import SigningError
from crypto.signing import (
    MAX_COSIGN_LIFETIME,
    BreakGlassCosign,
    BreakGlassOpen,
    BreakGlassReview,
    recover,
)
from ledger_api.chain.consortium import Role
from ledger_api.chain.emergency import MAX_WINDOW, ZERO_ADDRESS, text_hash
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
from ledger_api.services.signed_actions import (
    SignedAction,
    check_signed_by_caller,
    contract_domain,
)
from storage.models.emergency import BreakGlassEvent

if TYPE_CHECKING:
    from ledger_api.chain.contract import Mined, PendingTx
    from ledger_api.context import AppContext

log = logging.getLogger("ledger_api.break_glass")

REASON_MIN, REASON_MAX = 10, 500
NOTE_MAX = 1000


class CapReachedError(ApiError):
    """429: the opener reached the daily cap and sent no valid co-signature."""

    status_code = 429
    code = "break_glass_cap"


_REVERTS: dict[str, tuple[type[ApiError], str]] = {
    "EmergencyAccessUnauthorized": (ForbiddenError, "not_allowed"),
    "EmergencyAccessInvalidCosignature": (UnprocessableError, "invalid_cosignature"),
    "EmergencyAccessCosignatureExpired": (UnprocessableError, "invalid_cosignature"),
    "EmergencyAccessCosignatureTooLong": (UnprocessableError, "invalid_cosignature"),
    "EmergencyAccessCapReached": (CapReachedError, "break_glass_cap"),
    "EmergencyAccessInvalidPatient": (UnprocessableError, "invalid_patient"),
    "EmergencyAccessEmptyReason": (UnprocessableError, "invalid_reason"),
    "EmergencyAccessInvalidWindow": (UnprocessableError, "invalid_window"),
    "EmergencyAccessDuplicateId": (ConflictError, "duplicate_id"),
    "EmergencyAccessUnknownId": (NotFoundError, "break_glass_not_found"),
    "EmergencyAccessAlreadyReviewed": (ConflictError, "already_reviewed"),
    "EmergencyAccessInvalidSignature": (UnprocessableError, "invalid_signature"),
    "EmergencyAccessSignatureExpired": (UnprocessableError, "signature_expired"),
}


@dataclass(frozen=True, kw_only=True)
class Cosignature:
    """A second doctor's ``BreakGlassCosign`` of the opening, as sent by the opener's client
    (the rest of the message is the opening's: id, opener, patient, reason hash)."""

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


def _window(value: int | None, configured: int) -> int:
    """The signed window: the configured one by default, never longer."""
    window = configured if value is None else value
    if not 60 <= window <= min(configured, MAX_WINDOW):
        raise UnprocessableError(
            f"the window must be 60 to {configured} seconds, got {window}",
            code="invalid_window",
            details={"max_seconds": configured},
        )
    return window


def _opening_id(value: str) -> bytes:
    if not is_hex32(value) or int(value, 16) == 0:
        raise UnprocessableError(
            f"opening_id must be 0x + 64 hex digits, not zero: {quote(value)}", code="invalid_id"
        )
    return bytes.fromhex(value[2:])


def _check_cosignature(
    ctx: AppContext, cosig: Cosignature, *, opening: BreakGlassOpen, clinician: str, now: int
) -> BreakGlassCosign:
    """The co-signed message once the co-signer is a second active doctor who signed exactly
    this opening, with a deadline not passed and at most an hour ahead of the chain's time;
    422 ``invalid_cosignature`` otherwise."""

    def bad(why: str) -> UnprocessableError:
        return UnprocessableError(f"invalid co-signature: {why}", code="invalid_cosignature")

    if not is_address(cosig.co_signer):
        raise bad(f"co_signer is not an address: {quote(cosig.co_signer)}")
    co_signer = to_checksum_address(cosig.co_signer)
    if co_signer == clinician:
        raise bad("the co-signer must be a second doctor, not the clinician")
    if cosig.deadline < now:
        raise bad(f"its deadline {cosig.deadline} has passed (chain time {now})")
    if cosig.deadline > now + MAX_COSIGN_LIFETIME:
        raise bad(
            f"its deadline {cosig.deadline} is more than {MAX_COSIGN_LIFETIME} s after the "
            f"chain time {now}: a co-signature is made for one opening, shortly before it"
        )
    item = BreakGlassCosign(
        opening_id=opening.id,
        clinician=clinician,
        patient=opening.patient,
        reason_hash=opening.reason_hash,
        deadline=cosig.deadline,
    )
    try:
        signer = recover(contract_domain(ctx, item), item, cosig.signature)
    except SigningError as exc:
        raise bad(str(exc)) from exc
    if signer != co_signer:
        raise bad(
            f"signed by {signer}, not by {co_signer} (or for another opening, patient or reason)"
        )
    info = ctx.chain.consortium.member_info(co_signer)
    if not (info.active and info.role == Role.DOCTOR and info.institution_id):
        raise bad(f"{co_signer} is not an active doctor")
    return item


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
    opening_id: str,
    signed: SignedAction,
    window: int | None = None,
    cosignature: Cosignature | None = None,
) -> dict[str, Any]:
    """Open ``patient``'s chart for emergency use by ``principal``, who signed the
    ``BreakGlassOpen`` rebuilt here; see the module docstring."""
    require_doctor(principal)
    patient = _patient(patient, principal)
    reason = _reason(reason)
    message = BreakGlassOpen(
        id=_opening_id(opening_id),
        patient=patient,
        reason_hash=text_hash(reason),
        window=_window(window, ctx.settings.break_glass_window_seconds),
        deadline=signed.deadline,
    )
    check_signed_by_caller(
        ctx, message, signed.signature, caller=principal.address, what="break-glass opening"
    )
    emergency = ctx.chain.emergency
    with chain_required("cannot check the break-glass rate limit"):
        if emergency.opening_of(message.id).clinician != ZERO_ADDRESS:
            raise ConflictError(
                f"opening 0x{message.id.hex()} exists: choose a new id", code="duplicate_id"
            )
        now = latest_block_time(ctx)
        today = emergency.openings_on(principal.address, now // 86_400)
        cap = emergency.daily_cap()
        cosign = None
        if cosignature is not None:
            cosign = _check_cosignature(
                ctx, cosignature, opening=message, clinician=principal.address, now=now
            )
    if today >= cap and cosign is None:
        raise CapReachedError(
            f"{principal.address} already opened {today} break-glass accesses today (cap "
            f"{cap}); a second doctor's co-signature of this opening is required",
            code="break_glass_cap",
            details={"today": today, "cap": cap},
        )
    db.rollback()  # end the read snapshot before writing (see workflow_ledger.release_snapshot)
    ctx.hooks.fire_before_break_glass_sent(message.id)
    mined = _send(
        lambda: emergency.open_break_glass(
            message,
            signed.signature,
            cosign=cosign,
            cosignature=cosignature.signature if cosign and cosignature else b"",
        )
    )
    _index_receipt(ctx, db, mined)
    row = opening_row(db, "0x" + message.id.hex())
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
    signed: SignedAction,
) -> dict[str, Any]:
    """An active auditor's review of an opening, signed by them as the ``BreakGlassReview``
    rebuilt here (the note's keccak), on chain then in the index."""
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
    message = BreakGlassReview(
        id=bytes.fromhex(key[2:]),
        justified=justified,
        note_hash=text_hash(note),
        deadline=signed.deadline,
    )
    check_signed_by_caller(
        ctx, message, signed.signature, caller=principal.address, what="break-glass review"
    )
    db.rollback()
    mined = _send(lambda: ctx.chain.emergency.review(message, signed.signature))
    _index_receipt(ctx, db, mined)
    row = opening_row(db, key)
    row.review_note = note
    db.commit()
    with chain_required("cannot read the chain time"):
        now = latest_block_time(ctx)
    return opening_view(row, now=now)
