"""Two-way referrals and remote consultations, with every state transition kept.

The current state lives on the referral / consultation row (guarded by the position of the
last applied event, see ``storage.models.identity``); the full history lives in
``workflow_transitions``, one row per on-chain event, unique on (tx hash, log index).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base
from storage.models.types import Address, Bytes32

WORKFLOW_KINDS = ("referral", "consultation")


class Referral(Base):
    """A patient's referral from one institution to another (up or down the consortium)."""

    __tablename__ = "referrals"
    __table_args__ = (
        sa.Index(None, "patient"),
        sa.Index(None, "to_institution", "state"),
        sa.Index(None, "from_institution", "state"),
    )

    referral_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    patient: Mapped[str] = mapped_column(Address)
    from_institution: Mapped[str] = mapped_column(Bytes32)
    to_institution: Mapped[str] = mapped_column(Bytes32)
    referring_doctor: Mapped[str] = mapped_column(Address)
    receiving_doctor: Mapped[str | None] = mapped_column(Address)
    summary_cid: Mapped[str | None] = mapped_column(sa.String(128))
    state: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)


class Consultation(Base):
    """A remote consultation: a requesting doctor invites specialists to give opinions."""

    __tablename__ = "consultations"
    __table_args__ = (sa.Index(None, "patient"), sa.Index(None, "requester", "state"))

    consultation_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    patient: Mapped[str] = mapped_column(Address)
    requester: Mapped[str] = mapped_column(Address)
    institution: Mapped[str | None] = mapped_column(Bytes32)
    state: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)

    participants: Mapped[list[ConsultationParticipant]] = relationship(cascade="all, delete-orphan")
    opinions: Mapped[list[ConsultationOpinion]] = relationship(cascade="all, delete-orphan")


class ConsultationParticipant(Base):
    """A specialist invited to a consultation."""

    __tablename__ = "consultation_participants"
    __table_args__ = (sa.Index(None, "participant"),)

    consultation_id: Mapped[str] = mapped_column(
        Bytes32,
        sa.ForeignKey("consultations.consultation_id", ondelete="CASCADE"),
        primary_key=True,
    )
    participant: Mapped[str] = mapped_column(Address, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)


class ConsultationOpinion(Base):
    """A specialist's opinion: the encrypted document's CID and its hash as put on chain."""

    __tablename__ = "consultation_opinions"
    __table_args__ = (
        sa.UniqueConstraint("tx_hash", "log_index"),
        sa.Index(None, "consultation_id", "block_number"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    consultation_id: Mapped[str] = mapped_column(
        Bytes32, sa.ForeignKey("consultations.consultation_id", ondelete="CASCADE")
    )
    author: Mapped[str] = mapped_column(Address)
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
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    workflow_id: Mapped[str] = mapped_column(Bytes32)
    from_state: Mapped[str | None] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(Address)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    block_time: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    log_index: Mapped[int] = mapped_column(sa.Integer)
