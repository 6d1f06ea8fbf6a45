"""crypto.attributes: the member-attribute rule the chain enforces (Consortium), in Python:
reserved namespaces refused, nothing folded, the policy grammar, one bytes32 word."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.attributes import (
    RESERVED_NAMESPACES,
    check_member_attribute,
    check_member_attributes,
    is_reserved,
    pack_attribute,
    unpack_attribute,
)
from crypto.errors import CryptoError, MemberAttributeError, ReservedAttributeError
from crypto.policy import normalize_attribute


def test_reserved_namespaces_are_the_protocols() -> None:
    assert {"uid", "patient", "role", "org", "custodian", "epoch", "bg", "app", "gw"} == set(
        RESERVED_NAMESPACES
    )
    for namespace in RESERVED_NAMESPACES:
        with pytest.raises(ReservedAttributeError, match="reserved namespace") as caught:
            check_member_attribute(f"{namespace}:x")
        assert caught.value.attribute == f"{namespace}:x"
        assert is_reserved(f"{namespace}:x")
    assert not is_reserved("dept:cardiology")
    assert issubclass(ReservedAttributeError, MemberAttributeError)
    assert issubclass(MemberAttributeError, CryptoError)


@pytest.mark.parametrize(
    "text",
    [
        "Dept:cardiology",
        "dept:Cardiology",
        "ORG:cd3h",  # not folded onto a reserved one either: refused as malformed
        "dept:ſurgery",
        "dept:ｃardiology",
        "dept cardiology",
        "dept: x",
        "dept:",
        ":x",
        "dept",
        "1a:x",
        "de-pt:x",
        "dept:x,y",
        "dept:(x)",
        "dept:" + "x" * 28,  # 33 bytes
    ],
)
def test_malformed_attributes_are_refused_not_folded(text: str) -> None:
    with pytest.raises(MemberAttributeError):
        check_member_attribute(text)


@pytest.mark.parametrize("value", [None, b"dept:x", 7, ["dept:x"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(MemberAttributeError, match="must be a str"):
        check_member_attribute(value)


def test_lists_and_packing() -> None:
    assert check_member_attributes(["dept:cardiology", "title:attending"]) == [
        "dept:cardiology",
        "title:attending",
    ]
    with pytest.raises(MemberAttributeError, match="not one string"):
        check_member_attributes("dept:x")
    word = pack_attribute("dept:a.b@c-d_e9")
    assert len(word) == 32
    assert unpack_attribute(word) == "dept:a.b@c-d_e9"
    assert pack_attribute("dept:" + "x" * 27) == b"dept:" + b"x" * 27
    with pytest.raises(ReservedAttributeError):
        pack_attribute("org:cd3h")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="abcAZ09_.@-:ſ ,()", max_size=34))
def test_an_accepted_attribute_is_already_the_policy_languages_canonical_form(text: str) -> None:
    """Whatever passes is exactly what crypto.policy would fold it to: a key attribute and a
    policy attribute can never differ by case or Unicode folding."""
    try:
        accepted = check_member_attribute(text)
    except MemberAttributeError:
        return
    assert accepted == text
    assert normalize_attribute(text) == text
    assert len(text.encode()) <= 32
