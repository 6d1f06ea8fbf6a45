"""``clients.sdk.policies``: the envelope v3 record policy and its round trip through
``user_part``, and which institutions and attribute sets it admits (``crypto.reach``).

Pure functions plus the policy evaluator: no uid, epoch or break-glass clause is added any
more (the patient slot, each institution's slot epoch and the threshold emergency slot do
their work), only the author institution's ``custodian:`` clause.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clients.sdk.errors import ClientError
from clients.sdk.policies import reader_policy, record_policy_v3, user_part
from crypto.policy import normalize, satisfies

OTHER = "0x" + "cd" * 20

USER_POLICIES = [
    "dept:cardiology",
    "dept:cardiology and org:cd3h",
    "dept:cardiology or dept:general_practice",
    "2 of (dept:a, dept:b, role:doctor)",
    f"(uid:{OTHER}) or dept:x",
]


@pytest.mark.parametrize("user", USER_POLICIES)
@pytest.mark.parametrize("custodian", [None, "cd3h", "CD3H"])
def test_the_record_policy_round_trips_through_user_part(user: str, custodian: str | None) -> None:
    composed = record_policy_v3(user, custodian=custodian)
    assert composed == normalize(composed)
    for clause in ("uid:0x", "epoch:", "bg:", "role:emergency", "patient:"):
        assert clause not in composed.replace(f"uid:{OTHER}", "")
    if custodian:
        assert "custodian:cd3h" in composed
    assert user_part(composed) == normalize(user)


def test_the_custodian_opens_what_the_user_policy_does_not() -> None:
    composed = record_policy_v3("dept:cardiology", custodian="cd3h")
    assert satisfies(composed, ["dept:cardiology", "org:qyqchc"])
    assert satisfies(composed, ["custodian:cd3h", "org:cd3h"])  # the author institution's admin
    assert not satisfies(composed, ["custodian:qyqchc", "dept:oncology"])


def test_a_policy_that_names_nobody_is_refused_before_encrypting() -> None:
    with pytest.raises(ClientError, match="reaches at least one institution"):
        record_policy_v3("")
    with pytest.raises(ClientError, match="reaches at least one institution"):
        record_policy_v3("   ")
    assert record_policy_v3("", custodian="cd3h") == "custodian:cd3h"
    with pytest.raises(ClientError, match="invalid policy"):
        record_policy_v3("dept:cardiology and (")
    with pytest.raises(ClientError, match="not an institution code"):
        record_policy_v3("dept:x", custodian="a b")


def test_reader_policy_adds_the_one_reader() -> None:
    assert reader_policy(OTHER.upper().replace("0X", "0x")) == f"uid:{OTHER}"
    both = reader_policy(OTHER, "dept:cardiology")
    assert satisfies(both, [f"uid:{OTHER}"])
    assert satisfies(both, ["dept:cardiology"])
    with pytest.raises(ClientError):
        reader_policy(OTHER, "dept:(")


def test_user_part_keeps_what_it_does_not_know() -> None:
    assert user_part("not a policy (") == "not a policy ("
    assert user_part("custodian:cd3h") == "custodian:cd3h"  # nothing else to show
    assert user_part("dept:x and custodian:cd3h") == "dept:x and custodian:cd3h"


@given(
    st.lists(st.sampled_from(["dept:a", "dept:b", "role:doctor", "org:x"]), min_size=1),
    st.sampled_from(["and", "or"]),
)
def test_user_part_inverts_the_composition(attributes: list[str], op: str) -> None:
    user = f" {op} ".join(attributes)
    assert user_part(record_policy_v3(user, custodian="cd3h")) == normalize(user)
