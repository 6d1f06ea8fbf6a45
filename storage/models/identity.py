"""Who is who: institutions, their members (role + attributes) and issued attribute keys.

Mirrors ``Consortium`` on chain. Rows that on-chain events update carry the position
(``updated_block``, ``updated_log_index``) of the last event applied, so the indexer can
refuse to let an older event overwrite a newer one when a block range is replayed.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base
from storage.models.types import Address, Bytes32, UtcDateTime, utcnow


class Institution(Base):
    """A hospital or health centre of the consortium."""

    __tablename__ = "institutions"

    institution_id: Mapped[str] = mapped_column(Bytes32, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    admin: Mapped[str | None] = mapped_column(Address)
    active: Mapped[bool] = mapped_column(default=True)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)

    members: Mapped[list[Member]] = relationship(back_populates="institution")


class Member(Base):
    """A staff account of one institution, with one role (doctor, nurse, auditor, …)."""

    __tablename__ = "members"
    __table_args__ = (sa.Index(None, "institution_id", "role"),)

    address: Mapped[str] = mapped_column(Address, primary_key=True)
    institution_id: Mapped[str] = mapped_column(
        Bytes32, sa.ForeignKey("institutions.institution_id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(sa.String(32))
    active: Mapped[bool] = mapped_column(default=True)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)

    institution: Mapped[Institution] = relationship(back_populates="members")
    attributes: Mapped[list[MemberAttribute]] = relationship(
        back_populates="member", cascade="all, delete-orphan"
    )


class MemberAttribute(Base):
    """One ``namespace:value`` attribute of a member; revoked attributes stay, inactive."""

    __tablename__ = "member_attributes"
    __table_args__ = (sa.Index(None, "attribute"),)

    address: Mapped[str] = mapped_column(
        Address, sa.ForeignKey("members.address", ondelete="CASCADE"), primary_key=True
    )
    attribute: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    active: Mapped[bool] = mapped_column(default=True)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)

    member: Mapped[Member] = relationship(back_populates="attributes")


class KeyIssuance(Base):
    """An attribute key the key authority issued (sealed to ``recipient_public_key``).

    Kept so an auditor can tell which attribute set a person could decrypt with, and when.
    """

    __tablename__ = "key_issuances"
    __table_args__ = (sa.Index(None, "holder", "issued_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    holder: Mapped[str] = mapped_column(Address)
    attributes: Mapped[list[str]] = mapped_column(sa.JSON)
    recipient_public_key: Mapped[str] = mapped_column(sa.String(130))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    tx_hash: Mapped[str | None] = mapped_column(Bytes32)
