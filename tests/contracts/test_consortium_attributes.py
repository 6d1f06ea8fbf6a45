"""Consortium: attributes an admin may write (reserved namespaces refused, nothing folded; the
Python mirror in crypto/attributes.py agrees byte for byte) and the gateway role."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.attributes import RESERVED_NAMESPACES, check_member_attribute
from crypto.errors import MemberAttributeError, ReservedAttributeError
from tests.contracts.helpers import (
    ROLE_DOCTOR,
    ROLE_GATEWAY,
    Chain,
    b32,
)

INVALID = [
    "Dept:cardiology",  # upper case is refused, not folded
    "dept:Cardiology",
    "dept cardiology",
    "dept: cardiology",
    "dept",  # no colon
    ":cardiology",  # empty namespace
    "dept:",  # empty value
    "1dept:x",  # namespace starts with a digit
    "de-pt:x",  # '-' only in values
    "dept:card(iology)",
    "dept:a,b",
]


def con(chain: Chain):
    return chain.c["Consortium"].functions


def test_is_reserved_namespace_lists_exactly_the_python_set(chain: Chain) -> None:
    for namespace in RESERVED_NAMESPACES:
        assert con(chain).isReservedNamespace(b32(namespace)).call() is True
    for namespace in ("dept", "title", "ward", "uidx", "orgs", "ro", ""):
        assert con(chain).isReservedNamespace(b32(namespace)).call() is False


@pytest.mark.parametrize("namespace", sorted(RESERVED_NAMESPACES))
def test_reserved_namespaces_are_refused_in_enrol_and_update(chain: Chain, namespace: str) -> None:
    attribute = b32(f"{namespace}:cd3h")
    new = Account.create().address
    for who in ("inst_a_admin", "admin"):
        chain.reverts(
            who,
            con(chain).enrolMember(new, 1, ROLE_DOCTOR, [b32("dept:x"), attribute]),
            "ConsortiumReservedAttribute",
            attribute=attribute,
        )
        chain.reverts(
            who,
            con(chain).updateMember(chain.addr("doctor_a"), ROLE_DOCTOR, [attribute]),
            "ConsortiumReservedAttribute",
        )
    with pytest.raises(ReservedAttributeError):
        check_member_attribute(f"{namespace}:cd3h")


@pytest.mark.parametrize("text", INVALID)
def test_malformed_attributes_are_refused_not_folded(chain: Chain, text: str) -> None:
    word = text.encode().ljust(32, b"\x00")
    chain.reverts(
        "inst_a_admin",
        con(chain).enrolMember(Account.create().address, 1, ROLE_DOCTOR, [word]),
        "ConsortiumInvalidAttribute",
        attribute=word,
    )
    with pytest.raises(MemberAttributeError):
        check_member_attribute(text)


@pytest.mark.parametrize(
    "word",
    [
        "dept:ſurgery".encode().ljust(32, b"\x00"),  # non-ASCII look-alike of 's'
        b"dept:x\x00y".ljust(32, b"\x00"),  # text after the padding
        b"dept:x".ljust(31, b"\x00") + b"\x01",
        b"dept:" + b"x" * 27,  # 32 bytes, valid: no padding at all
    ],
)
def test_words_the_chain_judges_byte_by_byte(chain: Chain, word: bytes) -> None:
    call = con(chain).enrolMember(Account.create().address, 1, ROLE_DOCTOR, [word])
    valid = word == b"dept:" + b"x" * 27
    if valid:
        chain.send("inst_a_admin", call)
        check_member_attribute(word.decode())
    else:
        chain.reverts("inst_a_admin", call, "ConsortiumInvalidAttribute", attribute=word)


def _python_accepts(word: bytes) -> bool:
    text = word.rstrip(b"\x00")
    if b"\x00" in text:
        return False
    try:
        check_member_attribute(text.decode("ascii"))
    except (MemberAttributeError, UnicodeDecodeError):
        return False
    return True


ALPHABET = "abcz09_.@-:A Zſ\x00("


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=ALPHABET, min_size=1, max_size=20))
def test_python_mirror_agrees_with_the_chain(chain: Chain, text: str) -> None:
    """Whatever the bytes, Python's rule and the contract's say the same (no reverts matter
    but ours: eth_call, not a transaction, so the fixture's chain stays unchanged)."""
    raw = text.encode("utf-8")[:32]
    word = raw.ljust(32, b"\x00")
    if word == bytes(32):
        return  # the zero word has its own error (ConsortiumEmptyAttribute)
    call = con(chain).enrolMember(Account.create().address, 1, ROLE_DOCTOR, [word])
    revert = chain.call_revert(chain.accounts["inst_a_admin"], call)
    chain_accepts = revert is None
    assert chain_accepts == _python_accepts(word), (word, revert)
    if revert is not None:
        assert revert.name in ("ConsortiumInvalidAttribute", "ConsortiumReservedAttribute")


# -- gateways ----------------------------------------------------------------------------------


def enrol_gateway(chain: Chain, who: str = "outsider", institution: int = 1) -> str:
    gateway = chain.addr(who)
    admin = "inst_a_admin" if institution == 1 else "inst_b_admin"
    receipt = chain.send(admin, con(chain).enrolMember(gateway, institution, ROLE_GATEWAY, []))
    assert chain.one_event("Consortium", "MemberEnrolled", receipt)["role"] == ROLE_GATEWAY
    return gateway


def test_gateway_is_an_institution_member_without_attributes(chain: Chain) -> None:
    gateway = enrol_gateway(chain)
    assert con(chain).memberInfo(gateway).call() == [1, ROLE_GATEWAY, True]
    chain.reverts(
        "inst_a_admin",
        con(chain).enrolMember(Account.create().address, 1, ROLE_GATEWAY, [b32("dept:x")]),
        "ConsortiumTooManyAttributes",
        count=1,
        max=0,
    )
    chain.reverts(
        "inst_a_admin",
        con(chain).updateMember(gateway, ROLE_GATEWAY, [b32("dept:x")]),
        "ConsortiumTooManyAttributes",
    )
    chain.reverts(  # another institution's admin may not enrol it
        "inst_b_admin",
        con(chain).enrolMember(Account.create().address, 1, ROLE_GATEWAY, []),
        "ConsortiumUnauthorized",
        admin=chain.addr("inst_a_admin"),
    )


def test_gateway_config_applied_by_gateway_or_its_admin(chain: Chain) -> None:
    gateway = enrol_gateway(chain)
    digest = keccak(text="connections.yaml v3")
    for who, version in (("outsider", 3), ("inst_a_admin", 4)):
        receipt = chain.send(
            who, con(chain).recordGatewayConfig(gateway, b32("his-adt"), version, digest)
        )
        assert chain.one_event("Consortium", "GatewayConfigApplied", receipt) == {
            "institutionId": 1,
            "gateway": gateway,
            "name": b32("his-adt"),
            "version": version,
            "digest": digest,
        }


def test_gateway_config_refusals(chain: Chain) -> None:
    gateway = enrol_gateway(chain)
    name, digest = b32("flows"), keccak(text="flows")
    for who in ("inst_b_admin", "doctor_a", "relayer", "admin", "patient"):
        chain.reverts(
            who,
            con(chain).recordGatewayConfig(gateway, name, 1, digest),
            "ConsortiumUnauthorized",
            caller=chain.addr(who),
            admin=chain.addr("inst_a_admin"),
        )
    chain.reverts(  # a doctor is no gateway
        "doctor_a",
        con(chain).recordGatewayConfig(chain.addr("doctor_a"), name, 1, digest),
        "ConsortiumNotMember",
    )
    for args in ((bytes(32), 1, digest), (name, 0, digest), (name, 1, bytes(32))):
        chain.reverts(
            "outsider",
            con(chain).recordGatewayConfig(gateway, *args),
            "ConsortiumInvalidGatewayConfig",
        )
    chain.send("inst_a_admin", con(chain).suspendMember(gateway))
    chain.reverts(
        "outsider", con(chain).recordGatewayConfig(gateway, name, 1, digest), "ConsortiumNotMember"
    )
