"""``Consortium`` and ``EmergencyAccess`` events against the index: institutions, members
(with their attributes), and break-glass openings with their reviews.

All three are state rows (:class:`~.index_common.Tracked`), mirroring
:mod:`ledger_api.indexer.membership` and :mod:`ledger_api.indexer.emergency` column for column.
A member's attributes live in ``member_attributes`` and are compared as one sorted list; a
member may be removed and enrolled again, so its enrolment is a state (the latest one), not a
fixed column. An opening's reason and a review's note are kept in the index as text the chain
has only the keccak-256 of: where the text is there, its hash must be the chain's.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.chain.emergency import text_hash
from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.membership import attribute_text, role_name
from ledger_api.services.audit.index_common import IndexComparer, Tracked, id_chunks
from storage.models import Institution, Member, MemberAttribute
from storage.models.emergency import BreakGlassEvent
from storage.models.types import ZERO_ADDRESS

__all__ = ["IdentityChecks"]


def _attributes(e: ChainEvent) -> list[str]:
    return sorted({attribute_text(w) for w in e.args["attributes"]})


INSTITUTIONS = Tracked(
    kind="institution",
    model=Institution,
    key="institution_id",
    key_arg="institutionId",
    creation="InstitutionAdded",
    fixed=lambda e: {"code": e.args["code"], "tx_hash": e.tx_hash, "block_number": e.block_number},
    states={
        "InstitutionAdded": lambda e: {
            "name": e.args["name"],
            "admin": e.args["admin"],
            "active": True,
        },
        "InstitutionUpdated": lambda e: {"name": e.args["name"], "admin": e.args["admin"]},
        "InstitutionSuspended": lambda e: {"active": False},
        "InstitutionReinstated": lambda e: {"active": True},
    },
)


def _member_attributes(db: Session, ids: list[Any]) -> dict[Any, dict[str, Any]]:
    found: dict[Any, dict[str, Any]] = {key: {"attributes": []} for key in ids}
    for chunk in id_chunks(ids):
        rows = db.execute(
            sa.select(MemberAttribute.address, MemberAttribute.attribute)
            .where(MemberAttribute.address.in_(chunk))
            .order_by(MemberAttribute.attribute)
        )
        for address, attribute in rows:
            found[address]["attributes"].append(attribute)
    return found


MEMBERS = Tracked(
    kind="member",
    model=Member,
    key="address",
    key_arg="account",
    creation="MemberEnrolled",
    fixed=lambda e: {},
    states={
        "MemberEnrolled": lambda e: {
            "institution_id": e.args["institutionId"] or None,
            "role": role_name(e.args["role"]),
            "attributes": _attributes(e),
            "active": True,
            "removed": False,
            "tx_hash": e.tx_hash,
            "block_number": e.block_number,
        },
        "MemberUpdated": lambda e: {
            "role": role_name(e.args["role"]),
            "attributes": _attributes(e),
        },
        "MemberSuspended": lambda e: {"active": False},
        "MemberReinstated": lambda e: {"active": True},
        "MemberRemoved": lambda e: {"active": False, "removed": True, "attributes": []},
    },
    derived=_member_attributes,
)


def _texts(db: Session, ids: list[Any]) -> dict[Any, dict[str, Any]]:
    """The hash of each opening's reason and review note as the index's text has them (the
    stored hash where the API has not filled the text in yet)."""
    found: dict[Any, dict[str, Any]] = {}
    columns = (
        BreakGlassEvent.opening_id,
        BreakGlassEvent.reason,
        BreakGlassEvent.reason_hash,
        BreakGlassEvent.review_note,
        BreakGlassEvent.review_note_hash,
    )
    for chunk in id_chunks(ids):
        rows = db.execute(sa.select(*columns).where(BreakGlassEvent.opening_id.in_(chunk)))
        for opening_id, reason, reason_hash, note, note_hash in rows:
            found[opening_id] = {
                "reason_text": reason_hash if reason is None else "0x" + text_hash(reason).hex(),
                "review_note_text": note_hash if note is None else "0x" + text_hash(note).hex(),
            }
    return found


OPENINGS = Tracked(
    kind="break_glass",
    model=BreakGlassEvent,
    key="opening_id",
    key_arg="id",
    creation="BreakGlassOpened",
    fixed=lambda e: {
        "clinician": e.args["clinician"],
        "patient": e.args["patient"],
        "reason_hash": e.args["reasonHash"],
        "reason_text": e.args["reasonHash"],
        "co_signer": None if e.args["coSigner"] == ZERO_ADDRESS else e.args["coSigner"],
        "opened_at": e.block_time,
        "expires_at": e.args["expiresAt"],
        "tx_hash": e.tx_hash,
        "block_number": e.block_number,
        "log_index": e.log_index,
    },
    states={
        "BreakGlassOpened": lambda e: {
            "reviewed": False,
            "justified": None,
            "reviewer": None,
            "review_note_hash": None,
            "review_note_text": None,
            "reviewed_at": None,
            "review_tx_hash": None,
        },
        "BreakGlassReviewed": lambda e: {
            "reviewed": True,
            "justified": e.args["justified"],
            "reviewer": e.args["auditor"],
            "review_note_hash": e.args["noteHash"],
            "review_note_text": e.args["noteHash"],
            "reviewed_at": e.block_time,
            "review_tx_hash": e.tx_hash,
        },
    },
    derived=_texts,
    checked_as="break_glass_openings",
)


class IdentityChecks(IndexComparer):
    """One chunk of ``Consortium`` and ``EmergencyAccess`` events."""

    def run(self, events: list[ChainEvent], low: int, high: int) -> None:
        consortium = [e for e in events if e.contract == "Consortium"]
        self.tracked(INSTITUTIONS, consortium, low, high)
        self.tracked(MEMBERS, consortium, low, high)
        emergency = [e for e in events if e.contract == "EmergencyAccess"]
        self.tracked(OPENINGS, emergency, low, high)
