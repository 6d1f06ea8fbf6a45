"""Who is who: institutions, their members (role + attributes) and issued attribute keys.

Mirrors ``Consortium`` on chain. Rows that on-chain events update carry the position
(``updated_block``, ``updated_log_index``) of the last event applied, so the indexer can
refuse to let an older event overwrite a newer one when a block range is replayed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base
from storage.models.types import Address, Bytes32

ROLES = ("none", "doctor", "nurse", "auditor", "key_authority", "relayer")
"""Role names by their ``Consortium.Role`` number."""


class Institution(Base):
    """A hospital or health centre of the consortium (``uint32`` id on chain, from 1)."""

    __tablename__ = "institutions"

    institution_id: Mapped[int] = mapped_column(
        sa.BigInteger, primary_key=True, autoincrement=False
    )
    code: Mapped[str] = mapped_column(Bytes32, unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    admin: Mapped[str] = mapped_column(Address)
    active: Mapped[bool] = mapped_column(default=True)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)

    members: Mapped[list[Member]] = relationship(back_populates="institution")


class Member(Base):
    """A member account with one role; consortium-level roles have no institution (NULL).

    A removed member keeps its row (``removed`` true, no attributes) so the history of who was
    enrolled stays queryable; re-enrolment revives the row.
    """

    __tablename__ = "members"
    __table_args__ = (sa.Index(None, "institution_id", "role"),)

    address: Mapped[str] = mapped_column(Address, primary_key=True)
    institution_id: Mapped[int | None] = mapped_column(
        sa.BigInteger, sa.ForeignKey("institutions.institution_id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)
    removed: Mapped[bool] = mapped_column(default=False)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    updated_block: Mapped[int] = mapped_column(sa.BigInteger)
    updated_log_index: Mapped[int] = mapped_column(sa.Integer)

    institution: Mapped[Institution | None] = relationship(back_populates="members")
    attributes: Mapped[list[MemberAttribute]] = relationship(
        back_populates="member", cascade="all, delete-orphan"
    )


class MemberAttribute(Base):
    """One ``namespace:value`` attribute of a member (the chain packs it in a ``bytes32``).

    The set is replaced as a whole on every ``MemberEnrolled`` / ``MemberUpdated``, exactly as
    the contract replaces it.
    """

    __tablename__ = "member_attributes"
    __table_args__ = (sa.Index(None, "attribute"),)

    address: Mapped[str] = mapped_column(
        Address, sa.ForeignKey("members.address", ondelete="CASCADE"), primary_key=True
    )
    attribute: Mapped[str] = mapped_column(sa.String(66), primary_key=True)

    member: Mapped[Member] = relationship(back_populates="attributes")


class KeyIssuance(Base):
    """An attribute key the key authority issued (``KeyIssued`` on ``AccessLog``).

    The chain has only the hash of the sorted attribute list; ``attributes`` and
    ``recipient_public_key`` are filled by the key authority when it is the one issuing, so an
    auditor can check the hash.
    """

    __tablename__ = "key_issuances"
    __table_args__ = (
        sa.UniqueConstraint("tx_hash", "log_index"),
        sa.Index(None, "holder", "block_number"),
        sa.Index(None, "block_number"),  # the audit reads rows a chunk of blocks at a time
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    holder: Mapped[str] = mapped_column(Address)
    issuer: Mapped[str] = mapped_column(Address)
    attributes_hash: Mapped[str] = mapped_column(Bytes32)
    epoch: Mapped[int] = mapped_column(sa.BigInteger)
    attributes: Mapped[list[str] | None] = mapped_column(sa.JSON)
    recipient_public_key: Mapped[str | None] = mapped_column(sa.String(130))
    block_number: Mapped[int] = mapped_column(sa.BigInteger)
    block_time: Mapped[int] = mapped_column(sa.BigInteger)
    tx_hash: Mapped[str] = mapped_column(Bytes32)
    log_index: Mapped[int] = mapped_column(sa.Integer)
