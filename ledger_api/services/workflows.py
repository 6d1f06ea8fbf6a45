"""What referrals and consultations share: parsing and every check made before a write.

Both workflows follow one write order, so that bad input loses nothing and a refusal leaves
no trace: everything the contract would refuse is checked first (against chain state, not the
index, which may lag); then the patient's consents are relayed through
:mod:`ledger_api.services.consents` (the same checks and rows as ``POST /consents``); then the
workflow transaction is sent and its index rows written from the receipt
(:mod:`ledger_api.services.workflow_ledger`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.envelope import HeaderV3, parse_header
from crypto.errors import CryptoError, PolicyError, SigningError
from crypto.policy import normalize, normalize_attribute, policy_hash
from crypto.signing import (
    ZERO_ADDRESS,
    ZERO_BYTES32,
    Consent,
    Purpose,
    consent_id,
    reason_code,
)
from ledger_api.chain.errors import InvalidChainInputError
from ledger_api.http_errors import (
    ForbiddenError,
    ServiceUnavailableError,
    UnprocessableError,
)
from ledger_api.inputs import is_ascii_digits, quote
from ledger_api.principal import Principal
from ledger_api.services import consents as consent_service
from ledger_api.services import epochs
from ledger_api.services.access import chain_required
from ledger_api.services.chain_time import latest_block_time
from storage.errors import StorageError
from storage.models import Record

if TYPE_CHECKING:
    from ledger_api.context import AppContext

MAX_RECORDS = 64  # records one workflow may carry (each is a row and a consent check)
MAX_PAGE = 200


@dataclass(frozen=True)
class SignedConsent:
    """One patient-signed consent as carried by a workflow request."""

    consent: Consent
    signature: bytes
    grantee_policy: str | None


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


# --------------------------------------------------------------------------- parsing


def invalid(message: str, code: str, **details: Any) -> UnprocessableError:
    return UnprocessableError(message, code=code, details=details)


def parse_bytes32(value: Any, name: str) -> str:
    """``0x`` + 64 hex digits, lowercased (the index's form)."""
    digits = value[2:] if isinstance(value, str) and value[:2].lower() == "0x" else ""
    if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise invalid(
            f"{name} must be 0x followed by 64 hex digits", f"invalid_{name}", value=value
        )
    return "0x" + digits.lower()


def new_or_given_id(value: str | None, name: str) -> str:
    """The client's id (a retry names the same one) or a fresh random one."""
    if value is None:
        return "0x" + secrets.token_bytes(32).hex()
    parsed = parse_bytes32(value, name)
    if parsed == "0x" + "00" * 32:
        raise invalid(f"{name} must not be zero", f"invalid_{name}")
    return parsed


def parse_patient(value: Any) -> str:
    return consent_service.parse_address(value, "patient")


def parse_record_ids(values: Iterable[Any]) -> list[str]:
    """Distinct record ids in the given order."""
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(parse_bytes32(value, "record_id"), None)
    if len(seen) > MAX_RECORDS:
        raise invalid(f"at most {MAX_RECORDS} records per workflow", "too_many_records")
    return list(seen)


def reason_bytes(text: str | None) -> bytes:
    """A short reason code (``no_capacity``) as the contract's ``bytes32``, zero-padded
    (:func:`crypto.signing.reason_code`, which the clients sign with too)."""
    try:
        return reason_code(text)
    except SigningError:
        raise invalid(
            "reason must be a short code of at most 32 UTF-8 bytes", "invalid_reason"
        ) from None


def reason_text(value: str | None) -> str | None:
    """A ``bytes32`` reason shown as text when it is one (a digest stays hex only)."""
    if not value:
        return None
    raw = bytes.fromhex(value[2:]).rstrip(b"\x00")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    return text if text and text.isprintable() else None


def attribute_value(namespace: str, value: str, name: str) -> str:
    """``value`` checked as the value of a ``namespace:`` attribute, case-folded."""
    try:
        return normalize_attribute(f"{namespace}:{value}").split(":", 1)[1]
    except PolicyError as exc:
        raise invalid(f"{name} is not a valid attribute value: {exc}", f"invalid_{name}") from exc


def normalized_policy(text: str, name: str) -> str:
    try:
        return normalize(text)
    except PolicyError as exc:
        raise invalid(f"{name} is not a policy: {exc}", "invalid_policy") from exc


def parse_consents(
    items: Sequence[Mapping[str, Any]], *, audience_policy: str | None = None
) -> list[SignedConsent]:
    """The request's ``[{consent, signature, grantee_policy}]`` (parsed like POST /consents).

    A workflow knows its audience's policy: a consent that omits the text is given it (its
    hash is still checked), so the index can tell who the consent admits."""
    return [
        SignedConsent(
            consent=consent_service.parse_consent(item["consent"]),
            signature=consent_service.parse_signature(item["signature"]),
            grantee_policy=item.get("grantee_policy") or audience_policy,
        )
        for item in items
    ]


def chain_now(ctx: AppContext) -> int:
    """The chain's time (windows and deadlines are the contract's, judged by block time)."""
    with chain_required("cannot read the chain's time"):
        return latest_block_time(ctx)


def page_bounds(offset: int, limit: int) -> None:
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise invalid(f"offset must be ≥ 0 and limit 1..{MAX_PAGE}", "invalid_page")


# --------------------------------------------------------------------------- checks


def require_clinician(principal: Principal, *, nurse_ok: bool = False) -> None:
    """The contract's rule for requesters and receiving doctors (nurses where it says so)."""
    roles = ("doctor", "nurse") if nurse_ok else ("doctor",)
    if not (principal.is_member and principal.role in roles and principal.institution_id):
        who = "doctor or nurse" if nurse_ok else "doctor"
        raise ForbiddenError(
            f"only an active {who} of a consortium institution may do this",
            code="not_a_clinician",
            details={"role": principal.role},
        )


def resolve_institution(ctx: AppContext, value: int | str, name: str) -> tuple[int, str]:
    """An institution given by id or code → (id, code); it must exist and be active."""
    consortium = ctx.chain.consortium
    with chain_required("cannot look up the institution"):
        if isinstance(value, str) and not is_ascii_digits(value):
            try:
                institution_id = consortium.institution_id_by_code(value)
            except InvalidChainInputError:
                institution_id = 0
        else:
            institution_id = int(value)
        count = consortium.institution_count()
        if not 1 <= institution_id <= count:
            raise invalid(f"no institution {quote(value)}", "invalid_institution", **{name: value})
        info = consortium.institution(institution_id)
    if not info.active:
        raise invalid(
            f"institution {quote(value)} is suspended", "invalid_institution", **{name: value}
        )
    return institution_id, info.code


def require_records(db: Session, *, patient: str, record_ids: Sequence[str]) -> list[Record]:
    """Each id is a confirmed, active record of ``patient`` (what the contract requires)."""
    rows = {
        r.record_id: r
        for r in db.scalars(sa.select(Record).where(Record.record_id.in_(list(record_ids))))
    }
    for rid in record_ids:
        row = rows.get(rid)
        if row is None or row.state != "confirmed":
            raise invalid(f"no record {rid}", "unknown_record", record_id=rid)
        if row.patient != patient.lower():
            raise invalid(
                f"record {rid} is not a record of the patient", "invalid_record", record_id=rid
            )
        if row.status != "active":
            raise invalid(f"record {rid} is {row.status}", "invalid_record", record_id=rid)
    return [rows[rid] for rid in record_ids]


def record_policy(ctx: AppContext, row: Record) -> str:
    """The encryption policy of ``row`` (clear text in its header, checked against the chain's
    policy hash): what lets the API refuse a document its addressee could not open."""
    return record_header(ctx, row).policy


def patient_slot_admits(ctx: AppContext, row: Record, patient: str) -> bool:
    """Whether ``patient`` opens ``row`` by its own slot: an envelope v3 carries the data key
    wrapped to the patient it is bound to (docs/key-authorities.md), with no ``uid:`` clause
    in its policy; older envelopes admit the patient only through their policy."""
    header = record_header(ctx, row)
    return isinstance(header, HeaderV3) and header.patient == bytes.fromhex(patient[2:])


def record_header(ctx: AppContext, row: Record) -> Any:
    """``row``'s parsed header, its policy checked against the chain's policy hash."""
    try:
        header = parse_header(b"".join(ctx.store.get(row.header_cid)))
    except (CryptoError, StorageError, OSError, ValueError) as exc:
        raise ServiceUnavailableError(
            f"cannot read the header of {row.record_id}: {exc}", code="block_missing"
        ) from exc
    if "0x" + policy_hash(header.policy).hex() != row.policy_hash:
        raise ServiceUnavailableError(
            f"the header of {row.record_id} does not match its registered policy hash",
            code="block_missing",
        )
    return header


def check_consents(
    ctx: AppContext,
    *,
    consents: Sequence[SignedConsent],
    patient: str,
    purpose: Purpose,
    audience_policy: str,
    record_ids: Sequence[str],
) -> dict[str, str]:
    """Check every consent before any is relayed; returns ``{record id: consent id}``.

    Each consent must be the patient's, signed by the patient, for ``purpose``, name the
    audience's attribute policy (not an address), be in force now, and name one of the
    workflow's records or the whole chart; together they must cover every record.
    """
    if not consents:
        raise invalid(
            f"the patient's {purpose.name.lower()} consent is required",
            "consent_required",
            expected_policy=audience_policy,
        )
    expected_hash = policy_hash(audience_policy)
    now = chain_now(ctx)
    wanted = set(record_ids)
    covering: dict[str, str] = {}
    whole_chart: str | None = None
    for signed in consents:
        consent = signed.consent
        cid = "0x" + consent_id(consent).hex()
        if consent.patient.lower() != patient.lower():
            raise invalid("a consent names another patient", "consent_mismatch", consent_id=cid)
        if consent.purpose != purpose:
            raise invalid(
                f"a consent is for {consent.purpose.name.lower()}, not {purpose.name.lower()}",
                "consent_mismatch",
                consent_id=cid,
            )
        if consent.grantee != ZERO_ADDRESS or consent.grantee_policy_hash != expected_hash:
            raise invalid(
                f"a consent must name the policy {quote(audience_policy)} (by its hash)",
                "consent_mismatch",
                consent_id=cid,
                expected_policy=audience_policy,
                expected_policy_hash="0x" + expected_hash.hex(),
            )
        if consent.not_before > now:
            raise invalid(
                f"a consent starts at {consent.not_before}, after the chain's time {now}",
                "invalid_window",
                consent_id=cid,
            )
        consent_service._check_signed_by_patient(ctx, consent, signed.signature)
        consent_service.check_grant(ctx, consent, signed.grantee_policy)
        if consent.record_id == ZERO_BYTES32:
            whole_chart = cid
            continue
        rid = "0x" + consent.record_id.hex()
        if rid not in wanted:
            raise invalid(
                f"a consent names record {rid}, which the workflow does not carry",
                "consent_mismatch",
                consent_id=cid,
            )
        covering[rid] = cid
    missing = [rid for rid in record_ids if rid not in covering and whole_chart is None]
    if missing:
        raise invalid(
            "the consents do not cover every record",
            "consent_missing",
            record_ids=missing,
        )
    return {rid: covering.get(rid) or whole_chart or "" for rid in record_ids}


def relay_consents(
    *, ctx: AppContext, db: Session, principal: Principal, consents: Sequence[SignedConsent]
) -> None:
    """Relay each consent exactly as ``POST /consents`` does (its rows in the same session).

    A consent already in force on chain (a retry after a lost answer) is not sent again: its
    nonce is used, and the indexer mirrors its row."""
    for signed in consents:
        consent = signed.consent
        with chain_required("cannot read the consent"):
            stored = ctx.chain.consents.grant_of(consent)
        if (stored.nonce, stored.not_before, stored.expires_at) == (
            consent.nonce,
            consent.not_before,
            consent.expires_at,
        ):
            continue
        consent_service.relay_consent(
            ctx=ctx,
            db=db,
            principal=principal,
            consent=signed.consent,
            signature=signed.signature,
            grantee_policy=signed.grantee_policy,
        )


# --------------------------------------------------------------------------- chain and index


def oversees(principal: Principal) -> bool:
    """Auditors and consortium admins see every workflow's metadata (never content)."""
    return principal.is_consortium_admin or (principal.is_member and principal.role == "auditor")


def require_work_list_member(
    db: Session, principal: Principal, institution_id: int | None = None
) -> None:
    """An institution's work list (incoming referrals, consultations it is invited to, …) is
    for its active members and for overseers; 403 ``not_a_member`` for anyone else.

    A suspended or removed member is refused even before the principal cache notices (the
    index's membership row says so): the caller keeps their institution id in the principal,
    which is exactly what let a suspended GP list their institution's referrals."""
    if oversees(principal):
        return
    if (
        not principal.is_member
        or epochs.has_left(db, principal)
        or (institution_id is not None and principal.institution_id != institution_id)
    ):
        raise ForbiddenError(
            "institution work lists are for the institution's active members",
            code="not_a_member",
            details={"institution": institution_id, "active": principal.is_member},
        )
