"""Relaying patients' signed consents and revocations, and listing them.

The patient signs an EIP-712 ``Consent`` (or ``Revocation``) in the wallet; the API only
carries it to ``ConsentManager`` through its relayer, so the patient needs no gas. Everything
the contract would refuse is refused here first, with a precise error and nothing sent: the
signature is recovered locally under the deployed domain, the window is judged against chain
time, a ``grantee_policy`` text must hash to the signed ``grantee_policy_hash``, and the
contract's remaining refusals (a nonce already used) surface at gas estimation, before any
transaction exists. The index row is written from the mined receipt, with the same primary key
(the consent id) the indexer upserts, so whichever of the two runs first, one row results;
only the API knows the policy text behind a hash, and the indexer never overwrites it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from eth_utils import is_address
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.errors import PolicyError, SigningError
from crypto.policy import normalize, policy_hash
from crypto.signing import (
    ZERO_ADDRESS,
    ZERO_BYTES32,
    Consent,
    Purpose,
    Revocation,
    consent_id,
    recover,
)
from ledger_api.chain.errors import ChainError, TransactionRevertedError
from ledger_api.http_errors import (
    ApiError,
    BadSignatureError,
    ConflictError,
    ServiceUnavailableError,
    UnprocessableError,
)
from ledger_api.indexer.sql import upsert
from ledger_api.inputs import ascii_uint, is_ascii_digits, quote
from ledger_api.principal import Principal
from ledger_api.services.chain_time import block_time, latest_block_time
from storage.models import Consent as ConsentRow
from storage.models import clamp_uint64

if TYPE_CHECKING:
    from ledger_api.chain.contract import Mined, PendingTx
    from ledger_api.context import AppContext

log = logging.getLogger("ledger_api.consents")

MAX_NONCE = 2**128 - 1  # the contract stores nonces in 128 bits
MAX_UINT64 = 2**64 - 1

# Contract errors → (HTTP error class, stable code). Reverts found at gas estimation mean
# nothing was sent; the same mapping serves a revert found after mining.
_REVERTS: dict[str, tuple[type[ApiError], str]] = {
    "ConsentManagerNonceUsed": (ConflictError, "nonce_used"),
    "ConsentManagerInvalidWindow": (UnprocessableError, "invalid_window"),
    "ConsentManagerRevocationExpired": (UnprocessableError, "revocation_expired"),
    "ConsentManagerInvalidGrantee": (UnprocessableError, "invalid_grantee"),
    "ConsentManagerInvalidPurpose": (UnprocessableError, "invalid_purpose"),
    "ConsentManagerNonceTooLarge": (UnprocessableError, "invalid_nonce"),
    "ConsentManagerInvalidSignature": (BadSignatureError, "bad_signature"),
    "ConsentManagerWrongSigner": (BadSignatureError, "bad_signature"),
    "ConsentManagerUnknownConsent": (ConflictError, "consent_not_in_force"),
}


@dataclass(frozen=True)
class RelayResult:
    consent_id: str
    tx_hash: str
    block_number: int
    created: bool = True  # False: the consent was on chain already (an idempotent retry)


# --------------------------------------------------------------------------- parsing


def _invalid(message: str, code: str = "invalid_consent") -> UnprocessableError:
    return UnprocessableError(message, code=code)


def parse_address(value: Any, name: str, *, optional: bool = False) -> str:
    if value in (None, "") and optional:
        return ZERO_ADDRESS
    if not isinstance(value, str) or not is_address(value):
        raise _invalid(f"{name} must be a 0x-hex address, got {quote(value)}")
    return to_checksum_address(value)


def _bytes32(value: Any, name: str) -> bytes:
    if value in (None, ""):
        return ZERO_BYTES32
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise _invalid(f"{name} must be 0x followed by 64 hex digits, got {quote(value)}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise _invalid(f"{name} is not hex: {quote(value)}") from None


def _uint(value: Any, name: str, maximum: int) -> int:
    return ascii_uint(value, name=name, maximum=maximum, code="invalid_consent")


def parse_purpose(value: Any) -> Purpose:
    """A purpose code (0-4) or its name (``treatment``, ``referral`` …)."""
    if isinstance(value, str) and not is_ascii_digits(value):
        try:
            return Purpose[value.strip().upper()]
        except KeyError:
            names = ", ".join(p.name.lower() for p in Purpose)
            raise _invalid(
                f"unknown purpose {quote(value)}; one of {names}", "invalid_purpose"
            ) from None
    try:
        return Purpose(_uint(value, "purpose", max(Purpose)))
    except UnprocessableError:
        raise _invalid(
            f"purpose must be 0-{int(max(Purpose))} or a name, got {quote(value)}",
            "invalid_purpose",
        ) from None


def parse_consent(fields: Mapping[str, Any]) -> Consent:
    """The signed struct from request JSON (snake_case names, 0x hex, ints)."""
    return Consent(
        patient=parse_address(fields.get("patient"), "patient"),
        grantee=parse_address(fields.get("grantee"), "grantee", optional=True),
        grantee_policy_hash=_bytes32(fields.get("grantee_policy_hash"), "grantee_policy_hash"),
        record_id=_bytes32(fields.get("record_id"), "record_id"),
        purpose=parse_purpose(fields.get("purpose", 0)),
        not_before=_uint(fields.get("not_before", 0), "not_before", MAX_UINT64),
        expires_at=_uint(fields.get("expires_at"), "expires_at", MAX_UINT64),
        nonce=_uint(fields.get("nonce"), "nonce", MAX_NONCE),
    )


def parse_signature(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise BadSignatureError("signature must be 0x-prefixed hex")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise BadSignatureError("signature is not hex") from None
    if len(raw) != 65:
        raise BadSignatureError(f"signature must be 65 bytes (r‖s‖v), got {len(raw)}")
    return raw


# --------------------------------------------------------------------------- checks


def _check_signed_by_patient(ctx: AppContext, item: Consent | Revocation, sig: bytes) -> None:
    try:
        signer = recover(ctx.chain.consents.domain(), item, sig)
    except SigningError as exc:
        raise BadSignatureError(f"unusable signature: {exc}") from exc
    if signer != to_checksum_address(item.patient):
        raise BadSignatureError(
            f"signed by {signer}, not by the patient {to_checksum_address(item.patient)} "
            "(or signed for another chain or ConsentManager)",
            details={"signer": signer},
        )


def check_grant(
    ctx: AppContext,
    consent: Consent,
    grantee_policy: str | None,
    *,
    db: Session | None = None,
    check_window: bool = True,
) -> str | None:
    """Refuse what the contract would refuse, and a policy consent whose policy text nobody
    gave; returns the normalized policy text, if any.

    Why the text is required: the chain keeps only the policy's hash, and the API decides
    who a policy consent admits by evaluating the text against the reader's attributes. A
    policy consent relayed without it granted nothing, ever, and its nonce was spent (the
    patient had to sign again). The text may come with the request, or already be in the
    index (another consent for the same policy); it must hash to the signed hash."""
    has_grantee = consent.grantee != ZERO_ADDRESS
    has_policy = consent.grantee_policy_hash != ZERO_BYTES32
    if has_grantee == has_policy:
        raise _invalid(
            "exactly one of grantee and grantee_policy_hash must be set", "invalid_grantee"
        )
    text = None
    if has_policy and grantee_policy is None and db is not None:
        grantee_policy = known_policy_text(db, consent.grantee_policy_hash)
    if has_policy and grantee_policy is None:
        raise _invalid(
            "a policy consent needs its policy text (grantee_policy): the chain keeps only its "
            "hash, and without the text the consent could never grant anything",
            "policy_text_required",
        )
    if grantee_policy is not None and not has_policy:
        raise _invalid("grantee_policy is for policy consents only", "invalid_policy")
    if grantee_policy is not None:
        try:
            text = normalize(grantee_policy)
        except PolicyError as exc:
            raise _invalid(f"grantee_policy is not a policy: {exc}", "invalid_policy") from exc
        if policy_hash(text) != consent.grantee_policy_hash:
            raise _invalid(
                "grantee_policy does not hash to the signed grantee_policy_hash "
                f"(sha256 of {quote(text)} is 0x{policy_hash(text).hex()})",
                "policy_hash_mismatch",
            )
    if not check_window:
        return text
    now = latest_block_time(ctx)
    if consent.expires_at == 0 or consent.expires_at <= max(consent.not_before, now):
        raise _invalid(
            f"the window [{consent.not_before}, {consent.expires_at}) must end after its start "
            f"and after the chain's current time {now}",
            "invalid_window",
        )
    return text


def known_policy_text(db: Session, digest: bytes) -> str | None:
    """A policy text the index already holds for ``digest`` (checked when it was stored)."""
    return db.scalar(
        sa.select(ConsentRow.policy_text)
        .where(
            ConsentRow.grantee_policy_hash == "0x" + digest.hex(),
            ConsentRow.policy_text.is_not(None),
        )
        .limit(1)
    )


def _send(pending: Any) -> Mined:
    """Send (a lambda returning PendingTx) and wait; contract refusals become API errors."""
    try:
        tx: PendingTx = pending()
        return tx.wait()
    except TransactionRevertedError as exc:
        mapped = _REVERTS.get(exc.error_name)
        if mapped is None:
            raise ServiceUnavailableError(
                f"ConsentManager refused: {exc}", code="chain_rejected"
            ) from exc
        cls, code = mapped
        raise cls(str(exc), code=code, details={"error": exc.error_name}) from exc
    except ChainError as exc:
        raise ServiceUnavailableError(
            f"chain unavailable: {exc}", code="chain_unavailable"
        ) from exc


# --------------------------------------------------------------------------- services


def relay_consent(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    consent: Consent,
    signature: bytes,
    grantee_policy: str | None = None,
) -> RelayResult:
    """Relay a patient-signed consent; answers after the receipt, with the index row written.

    Any signed-in caller may relay (a clinic's tablet may carry the patient's signature): the
    signature, not the session, is the patient's authorisation.
    """
    del principal  # authenticated by the route; the signature decides
    _check_signed_by_patient(ctx, consent, signature)
    cid = "0x" + consent_id(consent).hex()
    existing = db.get(ConsentRow, cid)
    policy_text = check_grant(ctx, consent, grantee_policy, db=db, check_window=existing is None)
    if existing is not None:  # on chain already: a retry, which may bring the policy text
        return _relayed_before(db, existing, policy_text)
    db.commit()  # end the read (SQLite: the upsert below starts its own transaction)
    mined = _send(lambda: ctx.chain.consents.grant_by_sig(consent, signature))
    event = mined.event("ConsentGranted")
    row = {
        "consent_id": cid,
        "patient": consent.patient.lower(),
        "grantee": None if consent.grantee == ZERO_ADDRESS else consent.grantee.lower(),
        "grantee_policy_hash": None
        if consent.grantee_policy_hash == ZERO_BYTES32
        else "0x" + consent.grantee_policy_hash.hex(),
        "policy_text": policy_text,
        "record_id": None if consent.record_id == ZERO_BYTES32 else "0x" + consent.record_id.hex(),
        "purpose": int(consent.purpose),
        "not_before": clamp_uint64(consent.not_before),
        "expires_at": clamp_uint64(consent.expires_at),
        "nonce": str(consent.nonce),
        "tx_hash": mined.tx_hash,
        "block_number": mined.block_number,
        "log_index": event.log_index,
        "granted_at": block_time(ctx, mined.block_number),
    }
    _upsert_consent(db, row)
    log.info(
        "consent relayed",
        extra={"consent_id": cid, "patient": consent.patient, "tx_hash": mined.tx_hash},
    )
    return RelayResult(consent_id=cid, tx_hash=mined.tx_hash, block_number=mined.block_number)


def _relayed_before(db: Session, row: ConsentRow, policy_text: str | None) -> RelayResult:
    """The answer to relaying a consent the index has (nothing is sent: its nonce is used).

    A policy consent that reached the chain without its text (relayed elsewhere, or before
    the text was required) gets it now, once: the text was checked against the signed hash,
    and one stored is never replaced."""
    answer = RelayResult(
        consent_id=row.consent_id, tx_hash=row.tx_hash, block_number=row.block_number, created=False
    )
    if policy_text is not None and row.policy_text is None:
        # end the read first: a SQLite reader cannot become a writer once another connection
        # (the indexer) committed; the WHERE clause re-checks that no text is stored
        db.commit()
        db.execute(
            sa.update(ConsentRow)
            .where(ConsentRow.consent_id == row.consent_id, ConsentRow.policy_text.is_(None))
            .values(policy_text=policy_text)
        )
        log.info(
            "policy text stored for a relayed consent", extra={"consent_id": answer.consent_id}
        )
    return answer


def _upsert_consent(db: Session, row: dict[str, Any]) -> None:
    table = ConsentRow.__table__
    stmt = upsert(db.connection(), table).values(**row)
    update = {c: stmt.excluded[c] for c in row if c not in ("consent_id", "policy_text")}
    if row["policy_text"] is not None:
        update["policy_text"] = stmt.excluded.policy_text
    db.execute(stmt.on_conflict_do_update(index_elements=["consent_id"], set_=update))


def relay_revocation(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    consent: Consent,
    nonce: int,
    deadline: int,
    signature: bytes,
) -> RelayResult:
    """Relay a patient-signed revocation of ``consent``; marks the index row revoked."""
    del principal
    nonce = _uint(nonce, "nonce", MAX_NONCE)
    deadline = _uint(deadline, "deadline", MAX_UINT64)
    revocation = Revocation(
        patient=consent.patient, consent_id=consent_id(consent), nonce=nonce, deadline=deadline
    )
    _check_signed_by_patient(ctx, revocation, signature)
    now = latest_block_time(ctx)
    if deadline < now:
        raise _invalid(
            f"the revocation's deadline {deadline} has passed ({now})", "revocation_expired"
        )
    if nonce <= consent.nonce:
        raise ConflictError(
            f"the revocation's nonce {nonce} must exceed the consent's {consent.nonce}",
            code="nonce_used",
        )
    mined = _send(lambda: ctx.chain.consents.revoke_by_sig(consent, revocation, signature))
    mined.event("ConsentRevoked")
    cid = "0x" + revocation.consent_id.hex()
    table = ConsentRow.__table__
    db.execute(
        sa.update(table)
        .where(table.c.consent_id == cid, table.c.revoked.is_(False))
        .values(
            revoked=True,
            revoked_at=block_time(ctx, mined.block_number),
            revoke_tx_hash=mined.tx_hash,
            revoke_nonce=str(nonce),
        )
    )
    log.info(
        "consent revoked",
        extra={"consent_id": cid, "patient": consent.patient, "tx_hash": mined.tx_hash},
    )
    return RelayResult(consent_id=cid, tx_hash=mined.tx_hash, block_number=mined.block_number)
