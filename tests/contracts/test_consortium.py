"""Consortium: institutions, members, roles, attributes — happy paths, every revert, events."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak

from tests.contracts.helpers import (
    ROLE_AUDITOR,
    ROLE_DOCTOR,
    ROLE_KEY_AUTHORITY,
    ROLE_NURSE,
    ROLE_RELAYER,
    Chain,
    b32,
    same,
)

NOT_CONSORTIUM_ADMIN = [
    "inst_a_admin",
    "inst_b_admin",
    "relayer",
    "doctor_a",
    "nurse_a",
    "auditor_a",
    "key_authority",
    "patient",
    "outsider",
]
NOT_INST_A_MANAGER = [
    "inst_b_admin",
    "relayer",
    "doctor_a",
    "nurse_a",
    "auditor_a",
    "doctor_b",
    "key_authority",
    "patient",
    "outsider",
]


def fresh_account() -> Account:
    return Account.create()


# -- deployment state --------------------------------------------------------------------


def test_constructor_sets_admin_and_emits_transfer(chain: Chain) -> None:
    con = chain.c["Consortium"]
    assert same(con.functions.admin().call(), chain.addr("admin"))
    logs = con.events.AdminTransferred().get_logs(
        from_block=chain.deployment.block_number, to_block=chain.deployment.block_number
    )
    assert len(logs) == 1
    assert int(logs[0]["args"]["previousAdmin"], 16) == 0
    assert same(logs[0]["args"]["newAdmin"], chain.addr("admin"))


def test_relayer_is_enrolled_at_deployment(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    assert f.isRelayer(chain.addr("relayer")).call() is True
    assert f.memberInfo(chain.addr("relayer")).call() == [0, ROLE_RELAYER, True]
    assert f.isRelayer(chain.addr("doctor_a")).call() is False


# -- admin transfer --------------------------------------------------------------------------


def test_transfer_admin(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    new = chain.addr("outsider")
    receipt = chain.send("admin", f.transferAdmin(new))
    ev = chain.one_event("Consortium", "AdminTransferred", receipt)
    assert same(ev["previousAdmin"], chain.addr("admin"))
    assert same(ev["newAdmin"], new)
    assert same(f.admin().call(), new)
    chain.reverts("admin", f.transferAdmin(chain.addr("admin")), "ConsortiumUnauthorized")


def test_transfer_admin_rejects_zero(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    zero = "0x" + "00" * 20
    chain.reverts("admin", f.transferAdmin(zero), "ConsortiumZeroAddress")


@pytest.mark.parametrize("who", NOT_CONSORTIUM_ADMIN)
def test_consortium_admin_only_writes(chain: Chain, who: str) -> None:
    f = chain.c["Consortium"].functions
    caller = chain.addr(who)
    for call in (
        f.transferAdmin(caller),
        f.addInstitution("X", b32("x"), caller),
        f.updateInstitution(1, "X", caller),
        f.suspendInstitution(1),
        f.reinstateInstitution(1),
        f.enrolMember(fresh_account().address, 0, ROLE_RELAYER, []),
        f.enrolMember(fresh_account().address, 1, ROLE_KEY_AUTHORITY, []),
        f.suspendMember(chain.addr("relayer")),
        f.removeMember(chain.addr("key_authority")),
    ):
        chain.reverts(who, call, "ConsortiumUnauthorized", caller=caller, admin=chain.addr("admin"))


# -- institutions -----------------------------------------------------------------------------


def test_add_institution(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    admin = chain.addr("outsider")
    receipt = chain.send(
        "admin", f.addInstitution("青羊区社区卫生服务中心", b32("qingyang"), admin)
    )
    ev = chain.one_event("Consortium", "InstitutionAdded", receipt)
    assert ev["institutionId"] == 3
    assert ev["code"] == b32("qingyang")
    assert same(ev["admin"], admin)
    assert ev["name"] == "青羊区社区卫生服务中心"
    assert f.institutionCount().call() == 3
    assert f.institution(3).call() == ["青羊区社区卫生服务中心", b32("qingyang"), admin, True]
    assert f.institutionIdByCode(b32("qingyang")).call() == 3
    assert f.institutionIdByCode(b32("nowhere")).call() == 0


def test_add_institution_reverts(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    a = chain.addr("outsider")
    zero = "0x" + "00" * 20
    chain.reverts("admin", f.addInstitution("", b32("c"), a), "ConsortiumInvalidInstitution")
    chain.reverts("admin", f.addInstitution("N", b"\x00" * 32, a), "ConsortiumInvalidInstitution")
    chain.reverts("admin", f.addInstitution("N", b32("c"), zero), "ConsortiumZeroAddress")
    chain.reverts(
        "admin",
        f.addInstitution("N", b32("cd3h"), a),
        "ConsortiumDuplicateInstitutionCode",
        code=b32("cd3h"),
    )


def test_update_institution(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    new_admin = chain.addr("outsider")
    receipt = chain.send("admin", f.updateInstitution(1, "成都三院", new_admin))
    ev = chain.one_event("Consortium", "InstitutionUpdated", receipt)
    assert ev["institutionId"] == 1
    assert same(ev["admin"], new_admin)
    assert ev["name"] == "成都三院"
    assert f.institution(1).call() == ["成都三院", b32("cd3h"), new_admin, True]
    # the new institution admin now manages members; the old one no longer does
    chain.send("outsider", f.suspendMember(chain.addr("nurse_a")))
    chain.reverts(
        "inst_a_admin", f.reinstateMember(chain.addr("nurse_a")), "ConsortiumUnauthorized"
    )


def test_update_institution_reverts(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    a = chain.addr("outsider")
    zero = "0x" + "00" * 20
    chain.reverts(
        "admin", f.updateInstitution(9, "N", a), "ConsortiumUnknownInstitution", institutionId=9
    )
    chain.reverts(
        "admin", f.updateInstitution(0, "N", a), "ConsortiumUnknownInstitution", institutionId=0
    )
    chain.reverts("admin", f.updateInstitution(1, "", a), "ConsortiumInvalidInstitution")
    chain.reverts("admin", f.updateInstitution(1, "N", zero), "ConsortiumZeroAddress")
    chain.reverts("admin", f.institution(7), "ConsortiumUnknownInstitution", institutionId=7)


def test_suspend_and_reinstate_institution(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    doctor = chain.addr("doctor_a")
    assert f.isMember(doctor).call() is True
    receipt = chain.send("admin", f.suspendInstitution(1))
    assert chain.one_event("Consortium", "InstitutionSuspended", receipt) == {"institutionId": 1}
    # members of a suspended institution are inactive, without touching each member
    assert f.isMember(doctor).call() is False
    assert f.memberInfo(doctor).call() == [1, ROLE_DOCTOR, False]
    assert f.institution(1).call()[3] is False
    chain.reverts("admin", f.suspendInstitution(1), "ConsortiumInstitutionSuspended")
    # nothing may be enrolled in a suspended institution
    chain.reverts(
        "inst_a_admin",
        f.enrolMember(fresh_account().address, 1, ROLE_NURSE, []),
        "ConsortiumInstitutionSuspended",
        institutionId=1,
    )
    receipt = chain.send("admin", f.reinstateInstitution(1))
    assert chain.one_event("Consortium", "InstitutionReinstated", receipt) == {"institutionId": 1}
    assert f.isMember(doctor).call() is True
    chain.reverts("admin", f.reinstateInstitution(1), "ConsortiumInstitutionActive")
    chain.reverts("admin", f.suspendInstitution(5), "ConsortiumUnknownInstitution")
    chain.reverts("admin", f.reinstateInstitution(5), "ConsortiumUnknownInstitution")


# -- members --------------------------------------------------------------------------------


def test_enrol_member_by_institution_admin(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    new = fresh_account().address
    attrs = [b32("title:resident"), b32("dept:pediatrics")]
    receipt = chain.send("inst_a_admin", f.enrolMember(new, 1, ROLE_DOCTOR, attrs))
    ev = chain.one_event("Consortium", "MemberEnrolled", receipt)
    assert same(ev["account"], new)
    assert ev["institutionId"] == 1
    assert ev["role"] == ROLE_DOCTOR
    assert ev["attributes"] == attrs
    assert f.memberInfo(new).call() == [1, ROLE_DOCTOR, True]
    assert f.isMember(new).call() is True
    assert f.roleOf(new).call() == ROLE_DOCTOR
    assert f.institutionOf(new).call() == 1
    assert f.attributesOf(new).call() == attrs
    assert f.hasAttribute(new, b32("dept:pediatrics")).call() is True
    assert f.hasAttribute(new, b32("dept:cardio")).call() is False


def test_enrol_member_by_consortium_admin_and_consortium_roles(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    nurse = fresh_account().address
    chain.send("admin", f.enrolMember(nurse, 2, ROLE_NURSE, []))
    assert f.memberInfo(nurse).call() == [2, ROLE_NURSE, True]
    ka = fresh_account().address
    receipt = chain.send("admin", f.enrolMember(ka, 1, ROLE_KEY_AUTHORITY, [b32("ka:cd3h")]))
    assert chain.one_event("Consortium", "MemberEnrolled", receipt)["role"] == ROLE_KEY_AUTHORITY
    relayer2 = fresh_account().address
    chain.send("admin", f.enrolMember(relayer2, 0, ROLE_RELAYER, []))
    assert f.isRelayer(relayer2).call() is True


def test_enrol_member_reverts(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    new = fresh_account().address
    zero = "0x" + "00" * 20
    chain.reverts("inst_a_admin", f.enrolMember(zero, 1, ROLE_DOCTOR, []), "ConsortiumZeroAddress")
    chain.reverts(
        "inst_a_admin",
        f.enrolMember(chain.addr("doctor_a"), 1, ROLE_NURSE, []),
        "ConsortiumAlreadyMember",
    )
    for bad in (0, 7, 255):
        chain.reverts(
            "inst_a_admin", f.enrolMember(new, 1, bad, []), "ConsortiumInvalidRole", role=bad
        )
    # clinical roles need an institution
    chain.reverts(
        "admin", f.enrolMember(new, 0, ROLE_DOCTOR, []), "ConsortiumInvalidRole", role=ROLE_DOCTOR
    )
    chain.reverts("admin", f.enrolMember(new, 9, ROLE_DOCTOR, []), "ConsortiumUnknownInstitution")
    chain.reverts("admin", f.enrolMember(new, 9, ROLE_RELAYER, []), "ConsortiumUnknownInstitution")
    too_many = [b32(f"a:{i}") for i in range(33)]
    chain.reverts(
        "inst_a_admin",
        f.enrolMember(new, 1, ROLE_DOCTOR, too_many),
        "ConsortiumTooManyAttributes",
        count=33,
        max=32,
    )
    chain.reverts(
        "inst_a_admin",
        f.enrolMember(new, 1, ROLE_DOCTOR, [b32("a:x"), b"\x00" * 32]),
        "ConsortiumEmptyAttribute",
        index=1,
    )
    # exactly the maximum is fine
    chain.send("inst_a_admin", f.enrolMember(new, 1, ROLE_DOCTOR, too_many[:32]))
    assert len(f.attributesOf(new).call()) == 32


@pytest.mark.parametrize("who", NOT_INST_A_MANAGER)
def test_institution_member_writes_need_its_admin(chain: Chain, who: str) -> None:
    f = chain.c["Consortium"].functions
    caller = chain.addr(who)
    nurse = chain.addr("nurse_a")
    for call in (
        f.enrolMember(fresh_account().address, 1, ROLE_NURSE, []),
        f.updateMember(nurse, ROLE_DOCTOR, []),
        f.suspendMember(nurse),
        f.removeMember(nurse),
    ):
        chain.reverts(who, call, "ConsortiumUnauthorized", caller=caller)
    chain.send("inst_a_admin", f.suspendMember(nurse))
    # the error names who could have done it: institution 1's admin
    chain.reverts(
        who,
        f.reinstateMember(nurse),
        "ConsortiumUnauthorized",
        caller=caller,
        admin=chain.addr("inst_a_admin"),
    )


def test_institution_admin_cannot_grant_consortium_roles(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    caller = chain.addr("inst_a_admin")
    for role in (ROLE_KEY_AUTHORITY, ROLE_RELAYER):
        chain.reverts(
            "inst_a_admin",
            f.enrolMember(fresh_account().address, 1, role, []),
            "ConsortiumUnauthorized",
            caller=caller,
        )
        chain.reverts(
            "inst_a_admin",
            f.updateMember(chain.addr("nurse_a"), role, []),
            "ConsortiumUnauthorized",
            caller=caller,
        )


def test_update_member(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    nurse = chain.addr("nurse_a")
    attrs = [b32("title:attending"), b32("dept:er")]
    receipt = chain.send("inst_a_admin", f.updateMember(nurse, ROLE_DOCTOR, attrs))
    ev = chain.one_event("Consortium", "MemberUpdated", receipt)
    assert same(ev["account"], nurse)
    assert ev["institutionId"] == 1
    assert ev["role"] == ROLE_DOCTOR
    assert ev["attributes"] == attrs
    assert f.memberInfo(nurse).call() == [1, ROLE_DOCTOR, True]
    assert f.attributesOf(nurse).call() == attrs
    chain.send("admin", f.updateMember(nurse, ROLE_AUDITOR, []))
    assert f.roleOf(nurse).call() == ROLE_AUDITOR
    assert f.attributesOf(nurse).call() == []


def test_update_member_reverts(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    outsider = chain.addr("outsider")
    nurse = chain.addr("nurse_a")
    chain.reverts(
        "admin", f.updateMember(outsider, ROLE_NURSE, []), "ConsortiumNotMember", account=outsider
    )
    chain.reverts("inst_a_admin", f.updateMember(nurse, 9, []), "ConsortiumInvalidRole", role=9)
    chain.reverts(
        "inst_a_admin",
        f.updateMember(nurse, ROLE_NURSE, [b32(str(i)) for i in range(40)]),
        "ConsortiumTooManyAttributes",
    )
    # a consortium-level member cannot be turned into a clinician without an institution
    chain.reverts(
        "admin",
        f.updateMember(chain.addr("key_authority"), ROLE_DOCTOR, []),
        "ConsortiumInvalidRole",
    )


def test_suspend_reinstate_member(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    doctor = chain.addr("doctor_a")
    receipt = chain.send("inst_a_admin", f.suspendMember(doctor))
    ev = chain.one_event("Consortium", "MemberSuspended", receipt)
    assert same(ev["account"], doctor)
    assert ev["institutionId"] == 1
    assert f.isMember(doctor).call() is False
    assert f.memberInfo(doctor).call() == [1, ROLE_DOCTOR, False]
    assert f.roleOf(doctor).call() == ROLE_DOCTOR  # still on the register
    chain.reverts("inst_a_admin", f.suspendMember(doctor), "ConsortiumMemberSuspended")
    receipt = chain.send("admin", f.reinstateMember(doctor))
    ev = chain.one_event("Consortium", "MemberReinstated", receipt)
    assert same(ev["account"], doctor)
    assert ev["institutionId"] == 1
    assert f.isMember(doctor).call() is True
    chain.reverts("inst_a_admin", f.reinstateMember(doctor), "ConsortiumMemberActive")
    outsider = chain.addr("outsider")
    chain.reverts("admin", f.suspendMember(outsider), "ConsortiumNotMember", account=outsider)
    chain.reverts("admin", f.reinstateMember(outsider), "ConsortiumNotMember")


def test_suspended_relayer_is_not_relayer(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    relayer = chain.addr("relayer")
    chain.send("admin", f.suspendMember(relayer))
    assert f.isRelayer(relayer).call() is False


def test_remove_member(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    auditor = chain.addr("auditor_a")
    receipt = chain.send("inst_a_admin", f.removeMember(auditor))
    ev = chain.one_event("Consortium", "MemberRemoved", receipt)
    assert same(ev["account"], auditor)
    assert ev["institutionId"] == 1
    assert f.memberInfo(auditor).call() == [0, 0, False]
    assert f.attributesOf(auditor).call() == []
    chain.reverts("inst_a_admin", f.removeMember(auditor), "ConsortiumNotMember")
    # may be enrolled again, elsewhere
    chain.send("inst_b_admin", f.enrolMember(auditor, 2, ROLE_AUDITOR, [b32("dept:audit")]))
    assert f.memberInfo(auditor).call() == [2, ROLE_AUDITOR, True]


def test_consortium_admin_removes_consortium_roles(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    ka = chain.addr("key_authority")
    chain.send("admin", f.removeMember(ka))
    assert f.roleOf(ka).call() == 0


def test_non_member_views(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    nobody = Account.from_key(keccak(text="nobody")).address
    assert f.memberInfo(nobody).call() == [0, 0, False]
    assert f.isMember(nobody).call() is False
    assert f.isRelayer(nobody).call() is False
    assert f.roleOf(nobody).call() == 0
    assert f.institutionOf(nobody).call() == 0
    assert f.attributesOf(nobody).call() == []
    assert f.hasAttribute(nobody, b32("role:doctor")).call() is False


def test_member_facts_are_one_packed_slot(chain: Chain) -> None:
    """memberInfo is answered from one slot: `_members` is the 5th storage variable."""
    f = chain.c["Consortium"].functions
    doctor = chain.addr("doctor_a")
    # slots: 0 admin + institutionCount (packed), 1 _institutions, 2 _institutionByCode,
    # 3 _members, 4 _attributes
    slot = int.from_bytes(
        keccak(bytes.fromhex(doctor[2:]).rjust(32, b"\x00") + (3).to_bytes(32, "big")), "big"
    )
    word = int.from_bytes(chain.w3.eth.get_storage_at(chain.c["Consortium"].address, slot), "big")
    assert word & 0xFFFFFFFF == 1  # institution id
    assert (word >> 32) & 0xFF == ROLE_DOCTOR
    assert (word >> 40) & 0xFF == 1  # active
    assert word >> 48 == 0
    assert f.memberInfo(doctor).call() == [1, ROLE_DOCTOR, True]
