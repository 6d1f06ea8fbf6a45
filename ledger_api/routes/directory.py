"""``/directory``: the consortium's institutions and the attribute values in use (public).

A patient's wallet grants access to a group ("the cardiologists of 成都市第三人民医院") by
an attribute policy such as ``org:cd3h and dept:cardiology and role:doctor``; to offer those
choices it needs the institutions (code, name) and the ``dept:``/``role:`` values their active
members hold. All of it is already public on chain (``Consortium`` events); this reads the
index's mirror of it. No member addresses are listed: a patient names one doctor by address.

``/directory/members?address=…`` answers the other question, for addresses a signed-in caller
already holds: who is this (institution, role, attributes)? A patient reading who opened
their records, or about to grant an address, sees names instead of hex; an address the
consortium does not know is simply absent from the answer. Still the chain's public state:
no address is revealed that the caller did not give.

``/directory/clinicians?institution=…`` lists the active doctors and nurses of one institution
(signed-in callers), so a patient can choose institution → department → doctor instead of
typing an address. Those addresses are already public in the chain's ``MemberEnrolled``
events; the listing only saves the wallet from scanning them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import sqlalchemy as sa
from eth_utils import is_address
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crypto.addresses import to_checksum_address
from ledger_api.chain.consortium import unpack_text32
from ledger_api.deps import DbDep, PrincipalDep
from ledger_api.http_errors import UnprocessableError
from ledger_api.routes.error_docs import error_responses
from storage.models import Institution, Member, MemberAttribute

router = APIRouter(tags=["directory"])

# roles a patient can grant to; auditors, the key authority and the relayer read no records
CLINICAL_ROLES = ("doctor", "nurse")
MAX_LOOKUP = 100  # addresses per /directory/members request


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


class MemberInstitutionOut(BaseModel):
    institution_id: int
    code: str
    name: str
    active: bool


class MemberOut(BaseModel):
    address: str = Field(description="Checksummed (EIP-55).")
    role: str = Field(description="doctor, nurse, auditor, key_authority, relayer, …")
    active: bool = Field(description="False when suspended (or the institution is).")
    removed: bool
    institution: MemberInstitutionOut | None = Field(description="None for consortium-level roles.")
    attributes: list[str] = Field(description="namespace:value, as enrolled on chain.")


class MembersOut(BaseModel):
    members: list[MemberOut] = Field(description="Only the addresses the consortium knows.")


@router.get(
    "/directory/members",
    summary="Who these addresses are: institution, role, attributes (signed-in callers)",
    responses=error_responses(s401="unauthorized", s422="invalid_input"),
)
def directory_members(
    db: DbDep,
    _principal: PrincipalDep,
    address: Annotated[
        list[Annotated[str, Field(max_length=42)]],
        Query(
            description=f"0x addresses, 1 to {MAX_LOOKUP} (repeat the parameter).",
            json_schema_extra={"maxItems": MAX_LOOKUP},  # checked below, with a clear message
        ),
    ],
) -> MembersOut:
    if not 1 <= len(address) <= MAX_LOOKUP:
        raise UnprocessableError(f"give 1 to {MAX_LOOKUP} addresses, got {len(address)}")
    wanted: dict[str, str] = {}
    for value in address:
        if not is_address(value):
            raise UnprocessableError(f"address must be a 0x-hex address, got {value[:64]!r}")
        wanted[value.lower()] = value
    rows = db.scalars(sa.select(Member).where(Member.address.in_(list(wanted)))).all()
    attributes: dict[str, list[str]] = defaultdict(list)
    for owner, attribute in db.execute(
        sa.select(MemberAttribute.address, MemberAttribute.attribute)
        .where(MemberAttribute.address.in_(list(wanted)))
        .order_by(MemberAttribute.attribute)
    ).all():
        attributes[owner].append(attribute)
    institutions = {
        i.institution_id: i
        for i in db.scalars(
            sa.select(Institution).where(
                Institution.institution_id.in_(
                    [m.institution_id for m in rows if m.institution_id is not None]
                )
            )
        ).all()
    }
    return MembersOut(
        members=[
            MemberOut(
                address=to_checksum(m.address),
                role=m.role,
                active=m.active and _institution_active(institutions, m.institution_id),
                removed=m.removed,
                institution=_member_institution(institutions, m.institution_id),
                attributes=attributes.get(m.address, []),
            )
            for m in sorted(rows, key=lambda m: m.address)
        ]
    )


@router.get(
    "/directory/clinicians",
    summary="The active doctors and nurses of one institution (signed-in callers)",
    responses=error_responses(s401="unauthorized", s422="invalid_input"),
)
def directory_clinicians(
    db: DbDep,
    _principal: PrincipalDep,
    institution: Annotated[str, Query(max_length=32, description="Institution code, e.g. cd3h.")],
) -> MembersOut:
    """Members a patient can grant to, in address order; an unknown code is a 422, not []."""
    found = next(
        (i for i in db.scalars(sa.select(Institution)).all() if _code_text(i.code) == institution),
        None,
    )
    if found is None:
        raise UnprocessableError(f"no institution {institution[:32]!r}")
    rows = db.scalars(
        sa.select(Member)
        .where(
            Member.institution_id == found.institution_id,
            Member.active.is_(True),
            Member.removed.is_(False),
            Member.role.in_(CLINICAL_ROLES),
        )
        .order_by(Member.address)
    ).all()
    attributes: dict[str, list[str]] = defaultdict(list)
    if rows:
        for owner, attribute in db.execute(
            sa.select(MemberAttribute.address, MemberAttribute.attribute)
            .where(MemberAttribute.address.in_([m.address for m in rows]))
            .order_by(MemberAttribute.attribute)
        ).all():
            attributes[owner].append(attribute)
    place = _member_institution({found.institution_id: found}, found.institution_id)
    return MembersOut(
        members=[
            MemberOut(
                address=to_checksum(m.address),
                role=m.role,
                active=found.active,
                removed=False,
                institution=place,
                attributes=attributes.get(m.address, []),
            )
            for m in rows
        ]
    )


def to_checksum(value: str) -> str:
    return to_checksum_address(value)


def _institution_active(institutions: dict[int, Institution], institution_id: int | None) -> bool:
    return institution_id is None or (
        institution_id in institutions and institutions[institution_id].active
    )


def _member_institution(
    institutions: dict[int, Institution], institution_id: int | None
) -> MemberInstitutionOut | None:
    if institution_id is None or institution_id not in institutions:
        return None
    i = institutions[institution_id]
    return MemberInstitutionOut(
        institution_id=i.institution_id, code=_code_text(i.code), name=i.name, active=i.active
    )
