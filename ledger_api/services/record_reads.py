"""Reading records: metadata, a patient's chart (paged) and the header / body bytes.

Who sees what:

- **content** (header, body): only after :func:`~ledger_api.services.access.decide_and_log`
  granted it and the decision is on chain; a denial is logged too and answered 403;
- **metadata** (CIDs, digests, type, author): the patient, a caller the patient consented to
  (the same on-chain check as for content, not logged: metadata reveals no clinical data),
  and auditors and consortium admins, whose job is to check the ledger against the index;
- **a chart listing**: the patient and auditors/admins see every confirmed record; anyone else
  sees, of the page asked for, the records their consents cover (403 when none of the page).
  The page is taken first and access decided for its records only: the work of one request
  is bounded by ``limit`` (it was one decision, an RPC or more, per record of the chart).
  ``total`` is the chart's size, so a reader pages by ``offset += limit`` until ``total``.

Only ``confirmed`` rows exist for readers: a ``pending`` or ``failed`` upload is not a record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from eth_utils import is_address
from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.signing import Purpose, ReadPart
from ledger_api.http_errors import (
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
)
from ledger_api.principal import Principal
from ledger_api.services.access import Decision, Reason, chain_required, decide, decide_and_log
from ledger_api.services.read_requests import parse_read
from ledger_api.services.records import confirmed_count, confirmed_records_of
from ledger_api.smart.reads import APP_TOKEN_HEADER, app_for_read
from storage.models import Record

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["ChartPage", "get_record", "list_chart", "open_content", "parse_record_id"]

MAX_PAGE = 200

# a read made for a SMART app that the app's token does not allow (the denial is on chain)
_DENIAL_CODES = {
    Reason.APP_SCOPE: "app_scope_denied",
    Reason.APP_PATIENT: "app_patient_mismatch",
    Reason.APP_REVOKED: "app_revoked",
}
_DENIAL_MESSAGES = {
    Reason.APP_SCOPE: "the app's token does not cover this record's type",
    Reason.APP_PATIENT: "the app's token is for another patient's chart",
    Reason.APP_REVOKED: "the patient revoked this app on chain",
}


@dataclass(frozen=True)
class ChartPage:
    items: list[Record]
    total: int
    offset: int
    limit: int


def parse_record_id(value: str) -> str:
    digits = value[2:] if value[:2].lower() == "0x" else ""
    if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise UnprocessableError(
            "record id must be 0x followed by 64 hex digits",
            code="invalid_record_id",
            details={"record_id": value},
        )
    return "0x" + digits.lower()


def _oversees(principal: Principal) -> bool:
    """Auditors and consortium admins see metadata of every record (never content)."""
    return principal.is_consortium_admin or (principal.is_member and principal.role == "auditor")


def _confirmed(db: Session, record_id: str) -> Record:
    row = db.get(Record, parse_record_id(record_id))
    if row is None or row.state != "confirmed":
        raise NotFoundError(f"no record {record_id}", details={"record_id": record_id})
    return row


def get_record(
    *, ctx: AppContext, db: Session, principal: Principal, record_id: str, purpose: Purpose
) -> Record:
    """A confirmed record's metadata if the caller may see it (403 otherwise, 404 unknown)."""
    row = _confirmed(db, record_id)
    if principal.address.lower() == row.patient or _oversees(principal):
        return row
    with chain_required("cannot check the consent"):
        granted = decide(ctx=ctx, db=db, principal=principal, record=row, purpose=purpose).granted
    if not granted:
        raise ForbiddenError(
            "no consent covers this record for the caller", details={"record_id": row.record_id}
        )
    return row


def checked_patient_page(patient: str, *, offset: int, limit: int) -> str:
    """The checksummed patient of a chart or timeline page, after checking the address and the
    page bounds (422 ``invalid_address`` / ``invalid_page``) before anything is read."""
    if not is_address(patient):
        raise UnprocessableError(
            "patient must be a 20-byte hex address",
            code="invalid_address",
            details={"patient": patient},
        )
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise UnprocessableError(f"offset must be ≥ 0 and limit 1..{MAX_PAGE}", code="invalid_page")
    return to_checksum_address(patient)


def list_chart(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    patient: str,
    purpose: Purpose,
    offset: int,
    limit: int,
) -> ChartPage:
    """One page of ``patient``'s confirmed records that the caller may see."""
    patient = checked_patient_page(patient, offset=offset, limit=limit)
    rows = confirmed_records_of(db, patient, offset=offset, limit=limit)
    if principal.address != patient and not _oversees(principal):
        with chain_required("cannot check the consents"):
            rows = _visible(
                ctx=ctx, db=db, principal=principal, patient=patient, rows=rows, purpose=purpose
            )
        if not rows:  # says nothing of the chart's size to a caller it does not concern
            raise ForbiddenError(
                "no consent of this patient covers the caller for this page of the chart",
                details={"patient": patient, "offset": offset, "limit": limit},
            )
    return ChartPage(items=rows, total=confirmed_count(db, patient), offset=offset, limit=limit)


def _visible(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    patient: str,
    rows: list[Record],
    purpose: Purpose,
) -> list[Record]:
    """The rows a whole-chart consent or a per-record decision lets the caller see."""
    if not rows:
        return rows
    if ctx.chain.consents.is_allowed(
        patient=patient, grantee=principal.address, record_id=bytes(32), purpose=purpose
    ):
        return rows
    return [
        r
        for r in rows
        if decide(ctx=ctx, db=db, principal=principal, record=r, purpose=purpose).granted
    ]


def open_content(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    record_id: str,
    part: Literal["header", "body"],
    purpose: Purpose,
    headers: Mapping[str, str],
    client_ip: str | None = None,
) -> tuple[Decision, Record, Iterator[bytes]]:
    """Check the reader's signed request (``headers``), decide, log on chain, and only then
    open the block stream of ``part``.

    Raises 400 for a missing or bad signed request and 409 for a replayed one (nothing
    logged: nobody provably asked), 404 for an unknown record (nothing logged: there is no
    record to attribute it to), 403 after logging a denial, 503 when the granted content's
    blocks are missing."""
    row = _confirmed(db, record_id)
    app_token = headers.get(APP_TOKEN_HEADER)
    app = None
    if app_token is not None:  # the user's page reading for a SMART app
        app = app_for_read(db=db, principal=principal, token_value=app_token)
    signed = parse_read(
        headers,
        record_id=row.record_id,
        part=ReadPart.HEADER if part == "header" else ReadPart.BODY,
        purpose=purpose,
        app=(app.app_id, app.client_id_hash) if app is not None else None,
    )

    def count_denial() -> None:  # 429 past the denied-reads limit, before it is logged
        if ctx.limiter is not None:
            ctx.limiter.hit("denied_read", address=principal.address, ip=client_ip)

    decision = decide_and_log(
        ctx=ctx,
        db=db,
        principal=principal,
        record=row,
        purpose=purpose,
        signed=signed,
        on_denial=count_denial,
        app=app,
    )
    if not decision.granted:
        raise ForbiddenError(
            _DENIAL_MESSAGES.get(decision.reason, "no consent covers this record for the caller"),
            code=_DENIAL_CODES.get(decision.reason, "forbidden"),
            details={
                "record_id": row.record_id,
                "reason": int(decision.reason),
                "access_tx": decision.tx_hash,
                "repeated": decision.repeated,
            },
        )
    cid = row.header_cid if part == "header" else row.body_cid
    if not ctx.store.has(cid):
        raise ServiceUnavailableError(
            f"the {part} block of {row.record_id} is not in the block store",
            code="block_missing",
            details={"record_id": row.record_id, "cid": cid},
        )
    return decision, row, ctx.store.get(cid)
