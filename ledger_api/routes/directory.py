"""``/directory``: the consortium's institutions and the attribute values in use (public).

A patient's wallet grants access to a group ("the cardiologists of 成都市第三人民医院") by
an attribute policy such as ``org:cd3h and dept:cardiology and role:doctor``; to offer those
choices it needs the institutions (code, name) and the ``dept:``/``role:`` values their active
members hold. All of it is already public on chain (``Consortium`` events); this reads the
index's mirror of it. No member addresses are listed: a patient names one doctor by address.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, Field

from ledger_api.chain.consortium import unpack_text32
from ledger_api.deps import DbDep
from storage.models import Institution, Member, MemberAttribute

router = APIRouter(tags=["directory"])

# roles a patient can grant to; auditors, the key authority and the relayer read no records
CLINICAL_ROLES = ("doctor", "nurse")


class InstitutionOut(BaseModel):
    institution_id: int
    code: str
    name: str
    active: bool
    roles: list[str] = Field(description="Clinical roles held by active members (role:…).")
    attributes: dict[str, list[str]] = Field(
        description="Namespace → values held by active clinical members, e.g. dept → cardiology."
    )


class DirectoryOut(BaseModel):
    institutions: list[InstitutionOut]


@router.get("/directory", summary="Institutions and the attribute values in use (public)")
def directory(db: DbDep) -> DirectoryOut:
    institutions = db.scalars(sa.select(Institution).order_by(Institution.institution_id)).all()
    members = db.execute(
        sa.select(Member.address, Member.institution_id, Member.role).where(
            Member.active.is_(True),
            Member.removed.is_(False),
            Member.institution_id.is_not(None),
            Member.role.in_(CLINICAL_ROLES),
        )
    ).all()
    roles: dict[int, set[str]] = defaultdict(set)
    institution_of: dict[str, int] = {}
    for address, institution_id, role in members:
        roles[institution_id].add(role)
        institution_of[address] = institution_id
    values: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if institution_of:
        rows = db.execute(
            sa.select(MemberAttribute.address, MemberAttribute.attribute).where(
                MemberAttribute.address.in_(list(institution_of))
            )
        ).all()
        for address, attribute in rows:
            namespace, _, value = attribute.casefold().partition(":")
            if value:
                values[institution_of[address]][namespace].add(value)
    return DirectoryOut(
        institutions=[
            InstitutionOut(
                institution_id=i.institution_id,
                code=_code_text(i.code),
                name=i.name,
                active=i.active,
                roles=sorted(roles[i.institution_id]),
                attributes={ns: sorted(v) for ns, v in sorted(values[i.institution_id].items())},
            )
            for i in institutions
        ]
    )


def _code_text(stored: str) -> str:
    """The index keeps the code as the chain's packed ``bytes32`` (hex): ``cd3h``."""
    return unpack_text32(bytes.fromhex(stored.removeprefix("0x")))
