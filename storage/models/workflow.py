"""Two-way referrals and remote consultations, with every state transition kept.

Mirrors ``Workflow`` on chain. The current state lives on the referral / consultation row
(guarded by the position of the last applied event, see ``storage.models.identity``); the
full history lives in ``workflow_transitions``, one row per on-chain event, unique on
(tx hash, log index). Institutions are the chain's ``uint32`` ids; ``reason`` values are the
contract's ``bytes32`` reason codes.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base
from storage.models.types import Address, Bytes32

WORKFLOW_KINDS = ("referral", "consultation")
REFERRAL_STATES = ("requested", "accepted", "arrived", "completed", "rejected", "cancelled")
CONSULTATION_STATES = ("open", "closed", "cancelled")


class Referral(Base):
    """A patient's referral from one institution to another (up or down the consortium)."""

    __tablename__ = "referrals"
    __table_args__ = (
        sa.Index(None, "patient"),
        sa.Index(None, "to_institution", "state"),
        sa.Index(None, "from_institution", "state"),
        sa.Index(None, "block_number"),  # the audit reads rows a chunk of blocks at a time
        sa.Index(None, "updated_block"),
    )

    referral_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    patient: Mapped[str] = mapped_column(Address)
    from_institution: Mapped[int] = mapped_column(sa.BigInteger)
    to_institution: Mapped[int] = mapped_column(sa.BigInteger)
    requester: Mapped[str] = mapped_column(Address)
    record_id: Mapped[str | None] = mapped_column(Bytes32)
    reason: Mapped[str | None] = mapped_column(Bytes32)
    state: Mapped[str] = mapped_column(sa.String(16))
    summary_record_id: Mapped[str | None] = mapped_column(Bytes32)
    closing_reason: Mapped[str | None] = mapped_column(Bytes32)
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)


class Consultation(Base):
    """A remote consultation: a doctor invites institutions (or a policy) to give opinions."""

    __tablename__ = "consultations"
    __table_args__ = (
        sa.Index(None, "patient"),
        sa.Index(None, "requester", "state"),
        sa.Index(None, "requester_institution", "state"),
        sa.Index(None, "block_number"),
        sa.Index(None, "updated_block"),
    )

    consultation_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    patient: Mapped[str] = mapped_column(Address)
    requester: Mapped[str] = mapped_column(Address)
    requester_institution: Mapped[int] = mapped_column(sa.BigInteger)
    record_id: Mapped[str | None] = mapped_column(Bytes32)
    policy_hash: Mapped[str | None] = mapped_column(Bytes32)
    deadline: Mapped[int] = mapped_column(sa.BigInteger)
    state: Mapped[str] = mapped_column(sa.String(16))
    conclusion_cid: Mapped[str | None] = mapped_column(sa.String(128))
    conclusion_hash: Mapped[str | None] = mapped_column(Bytes32)
    opinion_count: Mapped[int | None] = mapped_column(sa.Integer)
    closing_reason: Mapped[str | None] = mapped_column(Bytes32)
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)

    invitations: Mapped[list[ConsultationInvitation]] = relationship(cascade="all, delete-orphan")
    opinions: Mapped[list[ConsultationOpinion]] = relationship(cascade="all, delete-orphan")


class ConsultationInvitation(Base):
    """An institution invited to give an opinion."""

    __tablename__ = "consultation_invitations"
    __table_args__ = (sa.Index(None, "institution_id"),)

    consultation_id: Mapped[str] = mapped_column(
        Bytes32,
        sa.ForeignKey("consultations.consultation_id", ondelete="CASCADE"),
        primary_key=True,
    )
    institution_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)


class ConsultationOpinion(Base):
    """A specialist's opinion: the encrypted document's CID and its hash as put on chain."""

    __tablename__ = "consultation_opinions"
    __table_args__ = (
        sa.UniqueConstraint("tx_hash", "log_index"),
        sa.Index(None, "consultation_id", "block_number"),
        sa.Index(None, "author"),
        sa.Index(None, "block_number"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    consultation_id: Mapped[str] = mapped_column(
        Bytes32, sa.ForeignKey("consultations.consultation_id", ondelete="CASCADE")
    )
    author: Mapped[str] = mapped_column(Address)
    institution_id: Mapped[int] = mapped_column(sa.BigInteger)
    opinion_cid: Mapped[str] = mapped_column(sa.String(128))
    opinion_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    block_time: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    log_index: Mapped[int] = mapped_column(sa.Integer)


class WorkflowTransition(Base):
    """One state change of a referral or consultation, as emitted on chain."""

    __tablename__ = "workflow_transitions"
    __table_args__ = (
        sa.UniqueConstraint("tx_hash", "log_index"),
        sa.CheckConstraint("kind IN ('referral', 'consultation')", name="kind_valid"),
        sa.Index(None, "kind", "workflow_id", "block_number"),
        sa.Index(None, "actor", "block_number"),
        sa.Index(None, "block_number"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    workflow_id: Mapped[str] = mapped_column(Bytes32)
    event: Mapped[str] = mapped_column(sa.String(40))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(Address)
    reason: Mapped[str | None] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    block_time: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    log_index: Mapped[int] = mapped_column(sa.Integer)


class WorkflowDetail(Base):
    """What the API knows of a workflow beyond its events (the chain keeps only digests).

    A referral's receiving department and urgency, a consultation's invitee policy text, and
    the attribute policy the patient's consents name (``audience_policy``). The referral's
    on-chain ``reason`` is the sha-256 of these details with its record and consent ids, so an
    auditor can check this row against the chain.
    """

    __tablename__ = "workflow_details"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('referral', 'consultation')", name="kind_valid"),
    )

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    department: Mapped[str | None] = mapped_column(sa.String(64))
    urgency: Mapped[str | None] = mapped_column(sa.String(16))
    invited_policy: Mapped[str | None] = mapped_column(sa.Text)
    audience_policy: Mapped[str] = mapped_column(sa.Text)


class WorkflowRecord(Base):
    """A record a workflow carries, in one role, and the patient consent that covers it.

    Roles: ``reason`` and ``shared`` (sent with a referral), ``question`` and ``shared`` (of a
    consultation). ``consent_id`` names the patient's consent relayed with the workflow that
    covers the record. The documents that answer a workflow (a referral's summary, opinions,
    a conclusion) need no row here: the chain names them and the indexer mirrors them.
    """

    __tablename__ = "workflow_records"
    __table_args__ = (
        sa.UniqueConstraint("kind", "workflow_id", "record_id", "role"),
        sa.CheckConstraint("kind IN ('referral', 'consultation')", name="kind_valid"),
        sa.Index(None, "record_id"),
        sa.Index(None, "consent_id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    workflow_id: Mapped[str] = mapped_column(Bytes32)
    record_id: Mapped[str] = mapped_column(Bytes32)
    role: Mapped[str] = mapped_column(sa.String(16))
    consent_id: Mapped[str | None] = mapped_column(Bytes32)
    author: Mapped[str | None] = mapped_column(Address)
