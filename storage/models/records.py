"""Records, consents and the access log: what the API answers and auditors check.

``records.state`` tracks the write protocol of a share (DESIGN "Share"): the API inserts a
``pending`` row before sending the registration, the indexer flips it to ``confirmed`` when
``RecordRegistered`` is indexed, and the reconciler marks ``failed`` what never made it.
Records the API never saw (registered by another replica or directly on chain) are inserted
``confirmed`` by the indexer.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.types import Address, Bytes32, Uint256, UtcDateTime, utcnow

RECORD_STATES = ("pending", "confirmed", "failed")
RECORD_STATUSES = ("active", "superseded", "withdrawn")


class Record(Base):
    """One encrypted record: on-chain registration fields plus its blocks' CIDs."""

    __tablename__ = "records"
    __table_args__ = (
        sa.CheckConstraint("state IN ('pending', 'confirmed', 'failed')", name="state_valid"),
        sa.Index(None, "patient", "block_number"),
        sa.Index(None, "block_number"),  # the audit reads rows a chunk of blocks at a time
        sa.Index(None, "author_institution"),
        sa.Index(None, "state"),
        # the epoch floor is the MIN of this index's range (ledger_api.services.epochs)
        sa.Index("ix_records_status_state_epoch", "status", "state", "epoch"),
    )

    record_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    patient: Mapped[str] = mapped_column(Address)
    author: Mapped[str | None] = mapped_column(Address)
    author_institution: Mapped[int | None] = mapped_column(sa.BigInteger)
    body_cid: Mapped[str] = mapped_column(sa.String(128))
    header_cid: Mapped[str] = mapped_column(sa.String(128))
    body_sha256: Mapped[str] = mapped_column(Bytes32)
    policy_hash: Mapped[str] = mapped_column(Bytes32)
    record_type: Mapped[str] = mapped_column(Bytes32)
    # the clinical date the uploader gave (FHIR date / dateTime), for the patient's timeline;
    # not on chain: it is the index entry's only clinical field (crypto.record_dates)
    record_date: Mapped[str | None] = mapped_column(sa.String(40))
    # header + body bytes as the API stored them (NULL for records it did not receive): what
    # the self-authored storage quota adds up
    stored_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    # the lowest membership epoch the header's policy names (0: none although members could
    # open it, -1: only the patient can); NULL until derived from the header (the API fills
    # it at upload, the epoch service for rows the indexer inserted or a re-key reset)
    epoch: Mapped[int | None] = mapped_column(sa.Integer)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    superseded_by: Mapped[str | None] = mapped_column(Bytes32)
    withdraw_reason: Mapped[int | None] = mapped_column(sa.SmallInteger)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    tx_hash: Mapped[str | None] = mapped_column(Bytes32)
    block_number: Mapped[int | None] = mapped_column(sa.BigInteger)
    log_index: Mapped[int | None] = mapped_column(sa.Integer)
    registered_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int | None] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int | None] = mapped_column(sa.Integer)
    # the author's EIP-712 signature of the registration and its deadline, kept while the row
    # is pending so the reconciler can send exactly what the author signed
    registration_signature: Mapped[str | None] = mapped_column(sa.String(132))
    registration_deadline: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class ReadRequest(Base):
    """A reader's signed request already used: the same signature is refused a second time."""

    __tablename__ = "read_requests"
    __table_args__ = (sa.Index(None, "issued_at"),)

    reader: Mapped[str] = mapped_column(Address, primary_key=True)
    nonce: Mapped[str] = mapped_column(sa.String(20), primary_key=True)  # a uint64, as text
    record_id: Mapped[str] = mapped_column(Bytes32)
    part: Mapped[int] = mapped_column(sa.SmallInteger)
    issued_at: Mapped[int] = mapped_column(sa.BigInteger)


class RetainedBlock(Base):
    """A block a re-key replaced, kept pinned for the audit until ``retain_until`` (unix s).

    Never served to readers: the API serves only the CIDs of a record's current version."""

    __tablename__ = "retained_blocks"
    __table_args__ = (sa.Index(None, "retain_until"),)

    cid: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    record_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    retain_until: Mapped[int] = mapped_column(sa.BigInteger)


class Consent(Base):
    """A patient's consent as granted on chain; exactly one of grantee / policy hash is set.

    ``record_id`` NULL means the whole chart. ``policy_text`` is filled when the API relayed
    the consent and knows the policy behind ``grantee_policy_hash`` (the chain has the hash).
    """

    __tablename__ = "consents"
    __table_args__ = (
        sa.Index(None, "grantee", "expires_at"),
        sa.Index(None, "patient", "block_number"),
        sa.Index(None, "block_number"),
        sa.Index(None, "grantee_policy_hash"),
        sa.Index(None, "record_id"),
    )

    consent_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    patient: Mapped[str] = mapped_column(Address)
    grantee: Mapped[str | None] = mapped_column(Address)
    grantee_policy_hash: Mapped[str | None] = mapped_column(Bytes32)
    policy_text: Mapped[str | None] = mapped_column(sa.Text)
    record_id: Mapped[str | None] = mapped_column(Bytes32)
    purpose: Mapped[int] = mapped_column(sa.SmallInteger)
    not_before: Mapped[int] = mapped_column(sa.BigInteger)
    expires_at: Mapped[int] = mapped_column(sa.BigInteger)
    nonce: Mapped[str] = mapped_column(Uint256)
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    revoke_tx_hash: Mapped[str | None] = mapped_column(Bytes32)
    revoke_nonce: Mapped[str | None] = mapped_column(Uint256)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    log_index: Mapped[int] = mapped_column(sa.Integer)
    granted_at: Mapped[int] = mapped_column(sa.BigInteger)


class AccessEvent(Base):
    """One ``AccessLogged`` event: a read decision, granted or denied, exactly once.

    No foreign key to ``records``: a denied attempt on an unknown id is logged on chain too,
    and the auditor must see it. ``AccessLogged`` does not carry the patient; the indexer
    fills ``patient`` from the record's registration (NULL when the record is unknown).
    """

    __tablename__ = "access_events"
    __table_args__ = (
        sa.UniqueConstraint("tx_hash", "log_index"),
        sa.Index(None, "patient", "block_number", "log_index"),
        sa.Index(None, "record_id", "block_number", "log_index"),
        sa.Index(None, "accessor", "block_number", "log_index"),
        sa.Index(None, "block_time"),
        sa.Index(None, "block_number"),
        sa.Index(None, "app_id", "block_number"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    record_id: Mapped[str] = mapped_column(Bytes32)
    patient: Mapped[str | None] = mapped_column(Address)
    accessor: Mapped[str] = mapped_column(Address)
    purpose: Mapped[int] = mapped_column(sa.SmallInteger)
    granted: Mapped[bool] = mapped_column()
    reason_code: Mapped[int] = mapped_column(sa.Integer)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    block_time: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    log_index: Mapped[int] = mapped_column(sa.Integer)
    # identical denials (reader, record, reason) within the coalescing window are logged on
    # chain once, this row; the repeats are counted here (services.access), with the last time
    repeats: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    last_repeat_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    # the reader's signed request (AccessLog.ReadRequest) and why access was granted (a
    # consent, referral, consultation or opening id), as the event carries them
    part: Mapped[int | None] = mapped_column(sa.SmallInteger)
    justification: Mapped[str | None] = mapped_column(sa.String(66))
    request_issued_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    request_nonce: Mapped[str | None] = mapped_column(sa.String(20))
    reader_signature: Mapped[str | None] = mapped_column(sa.String(132))
    # a read made by the user's page for a SMART app (``AppAccessLogged`` follows the entry):
    # the app's listing id and keccak-256 of its OAuth client id, both in the signed request
    app_id: Mapped[str | None] = mapped_column(sa.String(66))
    client_id_hash: Mapped[str | None] = mapped_column(sa.String(66))
