"""Sharing a record (store, register, confirm) and finding the records a caller may see.

The write order is what makes a share crash-safe (DESIGN "Share"): body and header blocks are
stored and pinned first (fsynced), then a ``pending`` row is committed, then the registration
is sent through the relayer (batched with concurrent shares into one ``registerBatch``), and
only after its receipt is the row ``confirmed`` and the answer given. A crash anywhere leaves
either nothing on chain (the reconciler registers the ``pending`` row at the next start, or
fails it when its blocks are gone) or a registration whose blocks exist; never an on-chain
record pointing at a missing block.

A revert marks the row ``failed`` and unpins the blocks no other record uses. A node that does
not answer in time leaves the row ``pending``: the transaction may still be mined, and the
reconciler (or the indexer) settles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.signing import RecordRegistration
from ledger_api.chain.errors import (
    ChainConnectionError,
    ReceiptTimeoutError,
    TransactionRejectedError,
    TransactionRevertedError,
)
from ledger_api.http_errors import (
    ConflictError,
    ForbiddenError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnprocessableError,
)
from ledger_api.principal import Principal
from ledger_api.services.epochs import policy_epoch, stored_epoch
from ledger_api.services.reconciler import confirm_from_chain, mark_confirmed, release_blocks
from ledger_api.services.registration import (
    check_registration,
    parse_signature,
    registration_domain,
    signed_registration,
)
from ledger_api.services.uploads import CheckedUpload, record_type_text
from storage.blocks import BlockStore, LocalBlockStore
from storage.models import Record
from storage.unixfs import compute_cid

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["ShareResult", "author_for", "record_view", "share_record"]


@dataclass(frozen=True)
class ShareResult:
    """The answer to an upload; ``created`` is False for an idempotent retry."""

    record: Record
    created: bool


def author_for(principal: Principal, *, patient: str, requested: str | None) -> str:
    """Who authors the record: an active clinician, or an institution's gateway (the system
    account of its interface platform), for their institution; or the patient.

    Anyone else (a suspended member, another patient, an auditor) may not share records for
    someone else's chart; naming another author than oneself is never allowed."""
    if requested is not None and requested != principal.address:
        raise ForbiddenError(
            "a record's author is the caller; relaying for another author is not allowed",
            code="author_mismatch",
            details={"author": requested, "caller": principal.address},
        )
    if principal.is_clinician or principal.address == patient:
        return principal.address
    if principal.is_member and principal.role == "gateway":
        return principal.address
    raise ForbiddenError(
        "only an active doctor, nurse or institution gateway, or the patient themself, may "
        "share a record",
        code="not_author",
        details={"caller": principal.address, "patient": patient},
    )


def _same_content(row: Record, upload: CheckedUpload, header_cid: str) -> bool:
    return (
        row.patient == upload.metadata.patient.lower()
        and row.body_sha256 == "0x" + upload.body_sha256.hex()
        and row.header_cid == header_cid
        and row.policy_hash == "0x" + upload.policy_hash.hex()
        and row.record_type == "0x" + upload.metadata.record_type_bytes32.hex()
    )


def share_record(
    *, ctx: AppContext, db: Session, principal: Principal, upload: CheckedUpload
) -> ShareResult:
    """Store, register and confirm a checked upload (see the module docstring for order)."""
    meta = upload.metadata
    author = author_for(principal, patient=meta.patient, requested=meta.author)
    header_cid = str(compute_cid(upload.header_bytes))
    upload.body.seek(0)
    body_cid = str(compute_cid(upload.body))
    upload.body.seek(0)
    registration, signature = _checked_registration(
        ctx=ctx, upload=upload, header_cid=header_cid, body_cid=body_cid, author=author
    )
    existing = db.get(Record, meta.record_id)
    # End the read transaction: on SQLite a reader cannot become a writer once another
    # connection (the indexer) has committed; the writes below start a transaction of their own.
    db.commit()
    if existing is not None and existing.state != "failed":
        if not _same_content(existing, upload, header_cid):
            raise ConflictError(
                f"record {meta.record_id} already exists with other content",
                code="duplicate_record",
                details={"record_id": meta.record_id, "state": existing.state},
            )
        if existing.state == "confirmed":
            return ShareResult(record=existing, created=False)
        # an identical pending row (an earlier attempt that did not finish): carry on with it

    size = len(upload.header_bytes) + upload.body_length
    if author == meta.patient:
        check_self_authored_quota(ctx=ctx, db=db, upload=upload, size=size)
    stored_body_cid, stored_header_cid = _store_blocks(ctx.store, upload)
    if (stored_body_cid, stored_header_cid) != (body_cid, header_cid):  # pragma: no cover
        raise ServiceUnavailableError("the block store returned unexpected CIDs")

    row = existing if existing is not None else Record(record_id=meta.record_id)
    row.patient = meta.patient
    row.author = author
    row.author_institution = principal.institution_id if author != meta.patient else 0
    row.body_cid = body_cid
    row.header_cid = header_cid
    row.body_sha256 = upload.body_sha256
    row.policy_hash = upload.policy_hash
    row.record_type = meta.record_type_bytes32
    row.record_date = meta.record_date
    row.stored_bytes = size
    row.epoch = stored_epoch(policy_epoch(upload.header.policy))
    row.registration_signature = "0x" + signature.hex()
    row.registration_deadline = registration.deadline
    row.version = 1
    row.status = "active"
    row.state = "pending"
    row.tx_hash = None
    row.block_number = None
    row.log_index = None
    if existing is None:
        db.add(row)
    try:
        db.commit()
    except IntegrityError as exc:  # a concurrent upload of the same id inserted it first
        db.rollback()
        release_blocks(ctx=ctx, db=db, cids=(body_cid, header_cid), record_id=None)
        raise ConflictError(
            f"record {meta.record_id} is being shared by another request",
            code="duplicate_record",
            details={"record_id": meta.record_id},
        ) from exc

    ctx.hooks.fire_after_blocks_stored(meta.record_id_bytes)
    return _register(ctx=ctx, db=db, row=row)


def _checked_registration(
    *, ctx: AppContext, upload: CheckedUpload, header_cid: str, body_cid: str, author: str
) -> tuple[RecordRegistration, bytes]:
    """The registration the author signed, rebuilt from the received bytes and checked
    (:func:`~ledger_api.services.registration.check_registration`) before anything is stored."""
    meta = upload.metadata
    if meta.signature is None or meta.deadline is None:
        raise UnprocessableError(
            "a new record needs its author's EIP-712 RecordRegistration signature: metadata "
            "`signature` and `deadline` (the SDK and the web wallet sign it)",
            code="registration_unsigned",
        )
    registration = RecordRegistration(
        id=meta.record_id_bytes,
        patient=meta.patient,
        body_cid=body_cid,
        header_cid=header_cid,
        body_hash=upload.body_sha256,
        policy_hash=upload.policy_hash,
        record_type=meta.record_type_bytes32,
        deadline=meta.deadline,
    )
    signature = parse_signature(meta.signature)
    check_registration(
        registration,
        signature,
        domain=registration_domain(
            chain_id=ctx.deployment.chain_id,
            registry=ctx.deployment.address("RecordRegistry"),
        ),
        signer=author,
    )
    return registration, signature


def check_self_authored_quota(
    *, ctx: AppContext, db: Session, upload: CheckedUpload, size: int
) -> None:
    """A patient's own uploads to their chart share ``quota_self_authored_bytes`` (413
    ``storage_quota_exceeded``, the quota and the use in ``details``). Records written by
    clinicians do not count: their institutions answer for them. Checked before any block is
    stored; two concurrent uploads may pass it together (by at most one upload's size)."""
    quota = ctx.settings.quota_self_authored_bytes
    patient = upload.metadata.patient.lower()
    used = db.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Record.stored_bytes), 0)).where(
            Record.patient == patient,
            Record.author == patient,
            Record.state.in_(("pending", "confirmed")),
            Record.record_id != upload.metadata.record_id,
        )
    )
    db.commit()  # end the read (SQLite: the writes after this start their own transaction)
    if int(used or 0) + size > quota:
        raise PayloadTooLargeError(
            f"this upload ({size} bytes) would take the patient's own records past their "
            f"{quota}-byte storage quota ({used} bytes used)",
            code="storage_quota_exceeded",
            details={"quota": quota, "used": int(used or 0), "size": size},
        )


def _store_blocks(store: BlockStore, upload: CheckedUpload) -> tuple[str, str]:
    """``(body CID, header CID)``, both durable and pinned; one batch in a local store (one
    round of fsyncs for the two instead of two rounds, one after the other)."""
    if isinstance(store, LocalBlockStore):
        body, header = store.put_many([upload.body, upload.header_bytes], pin=True)
    else:
        body = store.put(upload.body, pin=True)
        header = store.put(upload.header_bytes, pin=True)
    return str(body), str(header)


def _register(*, ctx: AppContext, db: Session, row: Record) -> ShareResult:
    """Register the pending row, together with concurrent shares (one ``registerBatch``)."""
    try:
        event = ctx.chain.records.register_coalesced(*signed_registration(row))
    except TransactionRevertedError as exc:
        return _reverted(ctx=ctx, db=db, row=row, exc=exc)
    except (ReceiptTimeoutError, ChainConnectionError, TransactionRejectedError) as exc:
        # Maybe mined later: the row stays pending for the reconciler / indexer.
        raise ServiceUnavailableError(
            f"the registration of {row.record_id} is not confirmed yet: {exc}",
            code="chain_unavailable",
            details={"record_id": row.record_id, "state": "pending"},
        ) from exc
    mark_confirmed(row, event)
    db.commit()
    return ShareResult(record=row, created=True)


def _reverted(
    *, ctx: AppContext, db: Session, row: Record, exc: TransactionRevertedError
) -> ShareResult:
    record_id = row.record_id
    if exc.error_name == "RecordRegistryDuplicateId":
        # Registered by an earlier attempt or another replica: the chain's event decides.
        if confirm_from_chain(ctx=ctx, db=db, row=row):
            db.commit()
            return ShareResult(record=row, created=False)
        db.commit()  # the row now holds the chain's (other) content, confirmed
        raise ConflictError(
            f"record {record_id} is already registered with other content",
            code="duplicate_record",
            details={"record_id": record_id},
        )
    row.state = "failed"
    db.commit()
    release_blocks(ctx=ctx, db=db, cids=(row.body_cid, row.header_cid), record_id=record_id)
    details: dict[str, Any] = {"record_id": record_id, "revert": exc.error_name}
    if exc.error_name == "RecordRegistryNotAuthor":
        raise ForbiddenError(
            "the chain does not accept the caller as an author", code="not_author", details=details
        ) from exc
    if exc.error_name == "RecordRegistryInvalidRecord":
        raise UnprocessableError(
            "the chain refused the record's fields", code="invalid_record", details=details
        ) from exc
    raise ServiceUnavailableError(
        f"the chain refused the registration: {exc.error_name}",
        code="chain_rejected",
        details=details,
    ) from exc


# ------------------------------------------------------------------ views


def record_view(row: Record) -> dict[str, Any]:
    """The JSON shape of a record's metadata (addresses checksummed on the way out)."""
    from crypto.addresses import to_checksum_address

    return {
        "record_id": row.record_id,
        "patient": to_checksum_address(row.patient),
        "author": to_checksum_address(row.author) if row.author else None,
        "author_institution": row.author_institution,
        "body_cid": row.body_cid,
        "header_cid": row.header_cid,
        "body_sha256": row.body_sha256,
        "policy_hash": row.policy_hash,
        "record_type": record_type_text(row.record_type),
        "record_date": row.record_date,
        "version": row.version,
        "status": row.status,
        "state": row.state,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
        "registered_at": row.registered_at,
    }


def confirmed_records_of(
    db: Session, patient: str, *, offset: int = 0, limit: int | None = None
) -> list[Record]:
    """The patient's confirmed records in chain order (a window of them when ``limit``)."""
    query = (
        sa.select(Record)
        .where(Record.patient == patient.lower(), Record.state == "confirmed")
        .order_by(Record.block_number, Record.log_index, Record.record_id)
    )
    if limit is not None:
        query = query.offset(offset).limit(limit)
    return list(db.scalars(query))


def confirmed_count(db: Session, patient: str) -> int:
    """How many confirmed records the patient's chart has."""
    return int(
        db.scalar(
            sa.select(sa.func.count())
            .select_from(Record)
            .where(Record.patient == patient.lower(), Record.state == "confirmed")
        )
        or 0
    )
