"""Re-keying a record: a new header (rewrap), or a new header and body (full re-encryption).

A re-key is a new version of the same record id (``RecordRegistry.rekey`` /
``rekeyBody``). The client does the cryptography (the API never holds a data key); this
module checks what it sent and writes it in the crash-safe order of DESIGN "Write order":

1. **checks, nothing written**: the record exists, is confirmed and active; the caller manages
   it (the patient, or an active doctor/nurse of the author institution — the contract's
   ``_managed``); the caller signed the re-key (:class:`~crypto.signing.RecordRekey` or
   :class:`~crypto.signing.RecordBodyRekey` of the record's current version, over exactly the
   CIDs, digest and policy hash received); the new header parses, keeps the record's envelope
   version, binding and author's seal, and its policy still lets ``uid:<patient>`` open the
   record; a header-only re-key must describe the *same* body (body id, segment size, length,
   content type as the current header) and must not narrow access (the re-key rule: a rewrap
   keeps the data key, so whoever loses access needs a full re-key); a new body is checked
   like an upload (framing, length, SHA-256);
2. the new blocks are stored and pinned (fsynced);
3. the re-key is sent and mined (the contract checks the actor again);
4. the index row takes the event's values (and its chain position, so the indexer's own
   replay of the same event changes nothing);
5. the blocks the new version replaced are retained for the audit (never served again;
   released after ``superseded_retention_seconds``: :mod:`ledger_api.services.retention`).

A crash between 3 and 4 is repaired by the indexer, which applies the event; the old blocks
then stay pinned (space, never a dangling reference). A revert releases the new blocks. A
retry of the same re-key (same header, same body) after a lost answer is answered 200 with
the record as it is, nothing sent twice.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.envelope import Header, parse_header
from crypto.errors import CryptoError
from crypto.policy_order import widens
from crypto.signing import RecordBodyRekey, RecordRekey
from ledger_api.chain.contract import Event
from ledger_api.chain.errors import (
    ChainConnectionError,
    ReceiptTimeoutError,
    TransactionRejectedError,
    TransactionRevertedError,
)
from ledger_api.http_errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
)
from ledger_api.principal import Principal
from ledger_api.services.reconciler import release_blocks
from ledger_api.services.retention import retain, sweep
from ledger_api.services.signed_actions import SignedAction, check_signed_action
from ledger_api.services.uploads import (
    CheckedUpload,
    RecordMetadata,
    check_header,
    check_upload,
    record_type_text,
)
from storage.blocks import LocalBlockStore
from storage.errors import StorageError
from storage.models import Record
from storage.unixfs import compute_cid

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = ["RekeyResult", "check_manager", "rekey_record"]

REKEY_RECEIPT_TIMEOUT = 60.0
_RECORD_ID = re.compile(r"0x[0-9a-f]{64}")
_SAME_BODY_FIELDS = ("body_id", "segment_size", "length", "content_type", "seal")


@dataclass(frozen=True)
class RekeyResult:
    """The record after the re-key; ``changed`` is False for an identical retry."""

    record: Record
    changed: bool
    full: bool
    retained: list[str]
    retained_until: int | None = None


@dataclass(frozen=True)
class _NewVersion:
    header_bytes: bytes
    header_cid: str
    policy_hash: bytes
    upload: CheckedUpload | None  # the checked new body of a full re-key


def check_manager(principal: Principal, row: Record) -> None:
    """The patient, or an active doctor/nurse of the record's author institution."""
    if principal.address.lower() == row.patient.lower():
        return
    institution = row.author_institution or 0
    if principal.is_clinician and institution != 0 and principal.institution_id == institution:
        return
    raise ForbiddenError(
        "only the patient or an active clinician of the author institution may re-key a record",
        code="not_record_manager",
        details={"record_id": row.record_id, "caller": principal.address},
    )


def load_record(db: Session, record_id: str) -> Record:
    """The confirmed, active index row of ``record_id`` (404 / 409 otherwise)."""
    key = record_id.lower()
    if not _RECORD_ID.fullmatch(key) or int(key, 16) == 0:
        raise UnprocessableError(
            "record_id must be 0x followed by 64 hex digits (32 bytes), not zero",
            code="invalid_record_id",
            details={"record_id": record_id},
        )
    row = db.get(Record, key)
    if row is None or row.state != "confirmed":
        raise NotFoundError(f"no registered record {key}", code="record_not_found")
    if row.status != "active":
        raise ConflictError(
            f"record {key} is {row.status}: only an active record can be re-keyed",
            code="record_not_active",
            details={"record_id": key, "status": row.status},
        )
    return row


def _current_header(ctx: AppContext, row: Record) -> Header:
    try:
        data = b"".join(ctx.store.get(row.header_cid))
        return parse_header(data)
    except (StorageError, CryptoError) as exc:
        raise ServiceUnavailableError(
            f"the current header of {row.record_id} cannot be read: {exc}",
            code="header_unavailable",
        ) from exc


def check_new_version(
    *, ctx: AppContext, row: Record, header_bytes: bytes, body: IO[bytes] | None
) -> _NewVersion:
    """Every check of the new header (and body) before anything is written.

    The new envelope keeps the record's version, binding and (for a header-only rewrap) its
    author's seal: a re-key changes who can read the record, never what it says."""
    current = _current_header(ctx, row)
    if body is not None:
        metadata = RecordMetadata(
            record_id=row.record_id,
            patient=row.patient,
            record_type=record_type_text(row.record_type) or "record",
        )
        upload = check_upload(
            metadata=metadata, header_bytes=header_bytes, body=body, version=current.version
        )
        return _NewVersion(
            header_bytes=header_bytes,
            header_cid=str(compute_cid(header_bytes)),
            policy_hash=upload.policy_hash,
            upload=upload,
        )
    header, digest = check_header(
        header_bytes, patient=row.patient, record_id=row.record_id, version=current.version
    )
    if not widens(current.policy, header.policy):
        raise UnprocessableError(
            "a header-only re-key keeps the data key, so it may only widen access; this one "
            "narrows it (someone who could read the record no longer can): re-encrypt the "
            "body under a fresh key (a full re-key)",
            code="rewrap_narrows",
            details={"policy": current.policy, "new_policy": header.policy},
        )
    differs = [f for f in _SAME_BODY_FIELDS if getattr(header, f) != getattr(current, f)]
    if differs:
        raise UnprocessableError(
            "a header-only re-key must describe the record's current body"
            f" (differs in {', '.join(differs)}); send a new body for a full re-encryption",
            code="header_body_mismatch",
            details={"fields": differs},
        )
    return _NewVersion(
        header_bytes=header_bytes,
        header_cid=str(compute_cid(header_bytes)),
        policy_hash=digest,
        upload=None,
    )


def _is_retry(row: Record, new: _NewVersion) -> bool:
    if row.header_cid != new.header_cid:
        return False
    return new.upload is None or row.body_sha256 == "0x" + new.upload.body_sha256.hex()


def _store(ctx: AppContext, new: _NewVersion) -> list[str]:
    """Store and pin the new blocks: ``[header]`` or ``[header, body]``."""
    if new.upload is None:
        return [str(ctx.store.put(new.header_bytes, pin=True))]
    if isinstance(ctx.store, LocalBlockStore):
        body, header = ctx.store.put_many([new.upload.body, new.header_bytes], pin=True)
    else:
        body = ctx.store.put(new.upload.body, pin=True)
        header = ctx.store.put(new.header_bytes, pin=True)
    return [str(header), str(body)]


def _send(*, ctx: AppContext, message: RecordRekey | RecordBodyRekey, signature: bytes) -> Event:
    records = ctx.chain.records
    if isinstance(message, RecordRekey):
        pending = records.rekey(message, signature)
        return pending.wait(timeout=REKEY_RECEIPT_TIMEOUT).event("RecordRekeyed")
    pending = records.rekey_body(message, signature)
    return pending.wait(timeout=REKEY_RECEIPT_TIMEOUT).event("RecordBodyRekeyed")


def _signed_rekey(
    *,
    ctx: AppContext,
    principal: Principal,
    row: Record,
    new: _NewVersion,
    body_cid: str | None,
    signed: SignedAction | None,
) -> tuple[RecordRekey | RecordBodyRekey, bytes]:
    """The re-key the caller signed, rebuilt from what was received and checked."""
    if signed is None:
        raise UnprocessableError(
            "a re-key needs its actor's EIP-712 signature (form field `signed`: "
            '{"signature", "deadline"}); the SDK signs it',
            code="rekey_unsigned",
        )
    record_id = bytes.fromhex(row.record_id[2:])
    message: RecordRekey | RecordBodyRekey
    if new.upload is None or body_cid is None:
        message = RecordRekey(
            id=record_id,
            version=row.version,
            header_cid=new.header_cid,
            policy_hash=new.policy_hash,
            deadline=signed.deadline,
        )
    else:
        message = RecordBodyRekey(
            id=record_id,
            version=row.version,
            body_cid=body_cid,
            header_cid=new.header_cid,
            body_hash=new.upload.body_sha256,
            policy_hash=new.policy_hash,
            deadline=signed.deadline,
        )
    check_signed_action(
        message,
        signed.signature,
        domain=message.domain(
            chain_id=ctx.deployment.chain_id,
            verifying_contract=ctx.deployment.address("RecordRegistry"),
        ),
        signer=principal.address,
        what="re-key",
    )
    return message, signed.signature


def _apply(db: Session, key: str, event: Event) -> None:
    """The index row takes the event's values and chain position, unless the indexer already
    applied this or a later event (then its own replay of this one is a no-op too).

    One guarded ``UPDATE`` with no read before it in its transaction: on SQLite a transaction
    that has read cannot start writing once another connection (the indexer, which is applying
    the same block) has committed."""
    args = event.args
    block, log_index = event.block_number, event.log_index
    values: dict[str, Any] = {
        "version": int(args["version"]),
        "header_cid": args["headerCid"],
        "policy_hash": "0x" + bytes(args["policyHash"]).hex(),
        "epoch": None,  # the new header's, not derived here (no floor reads it any more)
        "updated_block": block,
        "updated_log_index": log_index,
    }
    if "bodyCid" in args:
        values["body_cid"] = args["bodyCid"]
        values["body_sha256"] = "0x" + bytes(args["bodyHash"]).hex()
    newer = sa.or_(
        Record.updated_block.is_(None),
        Record.updated_block < block,
        sa.and_(Record.updated_block == block, Record.updated_log_index < log_index),
    )
    db.execute(sa.update(Record).where(Record.record_id == key, newer).values(**values))
    db.commit()


_REVERTS: dict[str, tuple[type[Any], str]] = {
    "RecordRegistryUnauthorized": (ForbiddenError, "not_record_manager"),
    "RecordRegistryNotActive": (ConflictError, "record_not_active"),
    "RecordRegistryUnknownRecord": (NotFoundError, "record_not_found"),
    "RecordRegistryInvalidRecord": (UnprocessableError, "invalid_record"),
}


def rekey_record(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    record_id: str,
    header_bytes: bytes,
    body: IO[bytes] | None,
    signed: SignedAction | None,
) -> RekeyResult:
    """Check, store, register on chain, update the index, retain the replaced blocks."""
    row = load_record(db, record_id)
    check_manager(principal, row)
    new = check_new_version(ctx=ctx, row=row, header_bytes=header_bytes, body=body)
    full = new.upload is not None
    if _is_retry(row, new):
        db.commit()
        return RekeyResult(record=row, changed=False, full=full, retained=[])
    body_cid = None
    if new.upload is not None:
        new.upload.body.seek(0)
        body_cid = str(compute_cid(new.upload.body))
        new.upload.body.seek(0)
    message, signature = _signed_rekey(
        ctx=ctx, principal=principal, row=row, new=new, body_cid=body_cid, signed=signed
    )
    key, old_version = row.record_id, row.version
    old = [row.header_cid] + ([row.body_cid] if full else [])
    db.commit()  # end the read transaction before the slow part; ``row`` is not read again
    stored = _store(ctx, new)
    if stored != [new.header_cid, *([body_cid] if body_cid else [])]:  # pragma: no cover
        raise ServiceUnavailableError("the block store returned unexpected CIDs")
    try:
        event = _send(ctx=ctx, message=message, signature=signature)
    except TransactionRevertedError as exc:
        release_blocks(ctx=ctx, db=db, cids=stored, record_id=None)
        db.commit()
        error, code = _REVERTS.get(exc.error_name, (ServiceUnavailableError, "chain_rejected"))
        raise error(
            f"the chain refused the re-key: {exc.error_name}",
            code=code,
            details={"record_id": key, "revert": exc.error_name},
        ) from exc
    except (ReceiptTimeoutError, ChainConnectionError, TransactionRejectedError) as exc:
        # maybe mined later: the indexer applies it; the new blocks stay pinned meanwhile
        raise ServiceUnavailableError(
            f"the re-key of {key} is not confirmed yet: {exc}",
            code="chain_unavailable",
            details={"record_id": key},
        ) from exc
    _apply(db, key, event)
    until = int(time.time()) + ctx.settings.superseded_retention_seconds
    retained = retain(db=db, cids=old, record_id=key, version=old_version, until=until)
    db.commit()
    sweep(ctx=ctx, db=db)
    row = db.get(Record, key, populate_existing=True) or row
    db.commit()
    return RekeyResult(record=row, changed=True, full=full, retained=retained, retained_until=until)


def rekey_view(result: RekeyResult) -> dict[str, Any]:
    """The answer: the record as it now is, what kind of re-key, which blocks were released."""
    from ledger_api.services.records import record_view

    return {
        "record": record_view(result.record),
        "full": result.full,
        "changed": result.changed,
        "retained_cids": result.retained,
        "retained_until": result.retained_until,
    }
