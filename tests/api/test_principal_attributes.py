"""The second guard on member attributes (issue 14, attack 1): what ``Consortium`` now refuses
on enrolment (reserved namespaces, upper case, non-ASCII) counts for nothing in the API's
access checks and stops key issuance, should a member record hold it anyway."""

from __future__ import annotations

from eth_account import Account

from ledger_api.principal import Principal


def _doctor(*attributes: str) -> Principal:
    return Principal(
        address=Account.create().address,
        role="doctor",
        institution_id=2,
        institution_code="qyqchc",
        attributes=attributes,
        active=True,
    )


def test_reserved_or_folded_attributes_grant_nothing() -> None:
    doctor = _doctor("dept:general_practice", "org:cd3h", "custodian:cd3h", "epoch:99", "DEPT:X")
    doctor2 = _doctor("dept:ſurgery", "dept:surgery")
    assert doctor.refused_attributes() == ["org:cd3h", "custodian:cd3h", "epoch:99", "DEPT:X"]
    attributes = set(doctor.abe_attributes())
    assert "org:cd3h" not in attributes  # not another institution's identity
    assert "custodian:cd3h" not in attributes
    assert "epoch:99" not in attributes  # not a future key
    assert "dept:x" not in attributes  # never folded
    assert {"dept:general_practice", "org:qyqchc", "role:doctor"} <= attributes
    assert doctor2.refused_attributes() == ["dept:ſurgery"]
    assert "dept:surgery" in doctor2.abe_attributes()  # only the genuine ASCII one


def test_a_gateway_is_a_member_role() -> None:
    gateway = Principal(
        address=Account.create().address, role="gateway", institution_id=2, active=True
    )
    assert gateway.is_member
    assert not gateway.is_clinician
