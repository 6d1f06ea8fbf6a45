"""The key authority: FAME's master keys at rest, and attribute keys issued to callers.

Scheme: FAME CP-ABE (Agrawal & Chase, ACM CCS 2017, IACR eprint 2017/807), k = 2, DLIN
assumption, BLS12-381 — see :mod:`crypto.fame`. The authority is the one party that runs
``KeyGen(msk, S)``; everything here exists to make that single capability safe:

- the master secret key ``msk`` lives on disk only inside a passphrase box
  (:func:`crypto.keys.encrypt_master_secret_key`: scrypt + AES-256-GCM), written once by
  ``medledger authority init`` and never overwritten (a second ``setup`` would silently
  orphan every record encrypted under the first ``mpk``);
- ``S`` is never chosen by the caller: it is what ``Consortium`` holds for them right now
  (:meth:`Principal.abe_attributes`), so a doctor cannot ask for ``dept:oncology``;
- the key leaves the API only sealed to an X25519 public key the caller sent, so neither
  logs nor a proxy ever see a usable key;
- member revocation holds cryptographically through membership epochs
  (:mod:`ledger_api.services.epochs`): members' keys carry ``epoch:<floor>`` …
  ``epoch:<current>``, an institution's admin also gets ``custodian:<code>`` (to re-key the
  institution's stale records), patients keep exactly ``uid:<address>``;
- no key is returned before its issuance is on chain (``AccessLog.logKeyIssued``, mined) and
  in the index: an issuance that cannot be logged is an issuance that does not happen.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from crypto.errors import SealError
from crypto.keys import (
    X25519_KEY_SIZE,
    seal_user_key,
)
from crypto.policy import normalize_attributes
from ledger_api.authority.keystore import KeyAuthority, PublicKeyInfo
from ledger_api.chain.consortium import Role
from ledger_api.chain.errors import ChainError
from ledger_api.http_errors import ForbiddenError, ServiceUnavailableError, UnprocessableError
from ledger_api.indexer.sql import upsert
from ledger_api.principal import Principal
from ledger_api.services import epochs
from ledger_api.services.auth import read_principal
from ledger_api.services.chain_time import block_time
from storage.models import KeyIssuance

if TYPE_CHECKING:
    from ledger_api.context import AppContext

log = logging.getLogger("ledger_api.authority")


@dataclass(frozen=True)
class IssuedKey:
    """What ``POST /keys/issue`` answers: the sealed key and how its issuance was logged."""

    sealed_key: bytes
    holder: str
    attributes: tuple[str, ...]
    attributes_hash: bytes
    epoch: int
    tx_hash: str
    block_number: int


def attributes_hash(attributes: Iterable[str]) -> bytes:
    """SHA-256 of the case-folded attributes, sorted, joined by ``\\n``.

    The value ``KeyIssued`` carries on chain: an auditor holding the index's attribute list
    recomputes it, and the order in which Consortium happens to list attributes cannot matter.
    """
    text = "\n".join(sorted(normalize_attributes(attributes)))
    return hashlib.sha256(text.encode("utf-8")).digest()


# --------------------------------------------------------------------------- services


def require_authority(ctx: AppContext) -> KeyAuthority:
    if ctx.settings.escrow_free:
        raise ServiceUnavailableError(
            "this API holds no key: each institution's own key authority issues its members' "
            "keys (their URLs: GET /keys/authorities; docs/key-authorities.md)",
            code="escrow_free",
        )
    if ctx.authority is None:
        raise ServiceUnavailableError(
            "this API holds no key authority (no passphrase configured or no keys initialised)",
            code="authority_unavailable",
        )
    return ctx.authority


def public_key(*, ctx: AppContext, db: Session) -> PublicKeyInfo:
    """The master public key with the epoch clients must write policies with (and the floor,
    the oldest epoch records still use)."""
    info = require_authority(ctx).public_info()
    try:
        floor, current = epochs.key_epochs(ctx, db)
    except ChainError as exc:
        raise ServiceUnavailableError(
            f"cannot read the current epoch: {exc}", code="chain_unavailable"
        ) from exc
    return replace(info, epoch=current, floor=floor)


def key_attributes(
    ctx: AppContext, db: Session, principal: Principal
) -> tuple[tuple[str, ...], int]:
    """The attributes of ``principal``'s key and the current epoch.

    Members and institution admins (custodians) get the epochs from the floor to the current
    one: a key without the current epoch could not open what is written now, one without the
    floor's could not open records the re-key job has not reached yet. Patients' keys stay
    ``uid:<address>`` only: a patient is never removed, so no epoch bounds their key."""
    refused = principal.refused_attributes()
    if refused:
        raise ForbiddenError(
            "the member record holds attributes the protocol reserves or refuses "
            f"({', '.join(refused)}): no key is issued until the institution's admin corrects "
            "it (Consortium refuses them now; this record predates that rule or was forged)",
            code="member_attributes_refused",
            details={"attributes": refused},
        )
    attributes = list(principal.abe_attributes())
    custodian = epochs.custodian_codes(db, principal)
    attributes += [f"custodian:{code}" for code in custodian]
    floor, current = epochs.key_epochs(ctx, db)
    if principal.is_member or custodian:
        attributes += [epochs.epoch_attribute(e) for e in range(floor, current + 1)]
    return tuple(sorted(normalize_attributes(attributes))), current


def decode_x25519_public_key(text: str) -> bytes:
    """Standard or URL-safe base64 (padding optional) of exactly 32 bytes; else a 422."""
    cleaned = text.strip()
    try:
        # altchars maps "-_" to "+/" first, so both alphabets validate.
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raise UnprocessableError(
            "x25519_public_key is not base64", code="invalid_public_key"
        ) from None
    if len(raw) != X25519_KEY_SIZE:
        raise UnprocessableError(
            f"x25519_public_key must be {X25519_KEY_SIZE} bytes, got {len(raw)}",
            code="invalid_public_key",
        )
    return raw


def issue_key(
    *, ctx: AppContext, db: Session, principal: Principal, recipient_public_key: bytes
) -> IssuedKey:
    """Issue the caller's FAME key for exactly what Consortium holds, sealed to their key.

    Order: check the caller, keygen and seal (a low-order or malformed X25519 key fails here,
    before anything is written), log on chain and wait for the receipt, write the index row,
    then answer. A suspended member is refused rather than quietly given a patient's key:
    their client should learn why their attributes vanished.
    """
    authority = require_authority(ctx)
    try:
        info = ctx.chain.consortium.member_info(principal.address)
        # Uncached: the request's principal may be seconds old, and a key outlives it.
        fresh = read_principal(ctx=ctx, address=principal.address)
    except ChainError as exc:
        raise ServiceUnavailableError(
            f"cannot read Consortium: {exc}", code="chain_unavailable"
        ) from exc
    if info.role != Role.NONE and not info.active:
        raise ForbiddenError(
            f"{principal.address} is a suspended member; no key is issued",
            code="member_suspended",
        )
    try:
        # A session of its own: a read left open on ``db`` across the chain wait would make
        # SQLite refuse the insert below once the indexer has written meanwhile.
        with ctx.sessions() as reads:
            attributes, epoch = key_attributes(ctx, reads, fresh)
    except ChainError as exc:
        raise ServiceUnavailableError(
            f"cannot read the current epoch: {exc}", code="chain_unavailable"
        ) from exc
    user_key = authority.issue(attributes)
    try:
        sealed = seal_user_key(user_key, recipient_public_key)
    except SealError as exc:
        raise UnprocessableError(
            f"unusable X25519 public key: {exc}", code="invalid_public_key"
        ) from exc
    digest = attributes_hash(attributes)
    try:
        mined = ctx.chain.access_log.log_key_issued(
            holder=principal.address, attributes_hash=digest, epoch=epoch
        ).wait()
        event = mined.event("KeyIssued")
        when = block_time(ctx, mined.block_number)
    except (ChainError, KeyError) as exc:
        raise ServiceUnavailableError(
            f"the issuance could not be logged on chain, so no key is issued: {exc}",
            code="chain_unavailable",
        ) from exc
    _record_issuance(
        db,
        holder=principal.address,
        issuer=str(event.args["issuer"]),
        digest=digest,
        attributes=attributes,
        epoch=epoch,
        recipient_public_key=recipient_public_key,
        tx_hash=mined.tx_hash,
        block_number=mined.block_number,
        block_time=when,
        log_index=event.log_index,
    )
    ctx.metrics.key_issued()
    log.info(
        "key issued",
        extra={
            "holder": principal.address,
            "attributes_hash": "0x" + digest.hex(),
            "tx_hash": mined.tx_hash,
        },
    )
    return IssuedKey(
        sealed_key=sealed,
        holder=principal.address,
        attributes=attributes,
        attributes_hash=digest,
        epoch=epoch,
        tx_hash=mined.tx_hash,
        block_number=mined.block_number,
    )


def _record_issuance(
    db: Session,
    *,
    holder: str,
    issuer: str,
    digest: bytes,
    attributes: tuple[str, ...],
    epoch: int,
    recipient_public_key: bytes,
    tx_hash: str,
    block_number: int,
    block_time: int,
    log_index: int,
) -> None:
    """Insert the KeyIssuance row, or complete the indexer's (same tx and log index).

    The indexer may index the ``KeyIssued`` event before this runs; its row lacks the
    attribute list (the chain only has the hash), which only the issuer can fill in.
    """
    table = KeyIssuance.__table__
    values = {
        "holder": holder.lower(),
        "issuer": issuer.lower(),
        "attributes_hash": "0x" + digest.hex(),
        "epoch": epoch,
        "attributes": list(attributes),
        "recipient_public_key": "0x" + recipient_public_key.hex(),
        "block_number": block_number,
        "block_time": block_time,
        "tx_hash": tx_hash.lower(),
        "log_index": log_index,
    }
    stmt = upsert(db.connection(), table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tx_hash", "log_index"],
        set_={
            "attributes": stmt.excluded.attributes,
            "recipient_public_key": stmt.excluded.recipient_public_key,
        },
    )
    db.execute(stmt)
