"""AccessLog: only the relayer logs accesses (single and batch); key issuance by the relayer or
a key authority; nothing is stored, everything is in the events."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.contracts.helpers import Chain, rid, same

NOT_RELAYER = [
    "admin",
    "inst_a_admin",
    "doctor_a",
    "nurse_a",
    "auditor_a",
    "doctor_b",
    "key_authority",
    "patient",
    "outsider",
]


def log(chain: Chain):
    return chain.c["AccessLog"].functions


def test_wiring(chain: Chain) -> None:
    assert same(log(chain).relayer().call(), chain.addr("relayer"))
    assert same(log(chain).consortium().call(), chain.c["Consortium"].address)
    assert log(chain).MAX_BATCH().call() == 64


def test_log_access_granted_and_denied(chain: Chain) -> None:
    accessor = chain.addr("doctor_b")
    receipt = chain.send("relayer", log(chain).logAccess(rid("r1"), accessor, 1, True, 0))
    ev = chain.one_event("AccessLog", "AccessLogged", receipt)
    assert ev == {
        "recordId": rid("r1"),
        "accessor": accessor,
        "purpose": 1,
        "granted": True,
        "reasonCode": 0,
    }
    receipt = chain.send("relayer", log(chain).logAccess(rid("r1"), accessor, 4, False, 403))
    ev = chain.one_event("AccessLog", "AccessLogged", receipt)
    assert ev["granted"] is False
    assert ev["reasonCode"] == 403
    assert ev["purpose"] == 4
    # nothing stored by logging: the only slot is the membership epoch (1, untouched)
    address = chain.c["AccessLog"].address
    assert int.from_bytes(chain.w3.eth.get_storage_at(address, 0), "big") == 1
    assert chain.w3.eth.get_storage_at(address, 1) == b"\x00" * 32


def test_log_access_batch_in_order(chain: Chain) -> None:
    entries = [
        (rid(f"b{i}"), chain.addr("doctor_a" if i % 2 else "doctor_b"), i % 5, i % 3 == 0, i)
        for i in range(7)
    ]
    receipt = chain.send("relayer", log(chain).logAccessBatch(entries))
    events = chain.events("AccessLog", "AccessLogged", receipt)
    assert [
        (e["recordId"], e["accessor"], e["purpose"], e["granted"], e["reasonCode"]) for e in events
    ] == entries


def test_log_access_batch_bounds(chain: Chain) -> None:
    chain.reverts(
        "relayer", log(chain).logAccessBatch([]), "AccessLogInvalidBatch", length=0, max=64
    )
    entry = (rid("x"), chain.addr("doctor_b"), 0, True, 0)
    chain.reverts(
        "relayer", log(chain).logAccessBatch([entry] * 65), "AccessLogInvalidBatch", length=65
    )
    receipt = chain.send("relayer", log(chain).logAccessBatch([entry] * 64))
    assert len(chain.events("AccessLog", "AccessLogged", receipt)) == 64


@pytest.mark.parametrize("who", NOT_RELAYER)
def test_only_relayer_logs_access(chain: Chain, who: str) -> None:
    caller = chain.addr(who)
    entry = (rid("x"), chain.addr("doctor_b"), 0, True, 0)
    chain.reverts(who, log(chain).logAccess(*entry), "AccessLogUnauthorized", caller=caller)
    chain.reverts(who, log(chain).logAccessBatch([entry]), "AccessLogUnauthorized", caller=caller)


def test_log_key_issued_by_relayer_and_key_authority(chain: Chain) -> None:
    holder = chain.addr("doctor_a")
    attrs_hash = keccak(text="dept:cardio,org:cd3h,role:doctor")
    receipt = chain.send("relayer", log(chain).logKeyIssued(holder, attrs_hash, 3))
    ev = chain.one_event("AccessLog", "KeyIssued", receipt)
    assert ev == {
        "holder": holder,
        "issuer": chain.addr("relayer"),
        "attributesHash": attrs_hash,
        "epoch": 3,
    }
    receipt = chain.send("key_authority", log(chain).logKeyIssued(holder, attrs_hash, 4))
    assert same(
        chain.one_event("AccessLog", "KeyIssued", receipt)["issuer"], chain.addr("key_authority")
    )


def test_log_key_issued_rejections(chain: Chain) -> None:
    holder = chain.addr("doctor_a")
    for who in ("admin", "doctor_a", "auditor_a", "inst_a_admin", "patient", "outsider"):
        chain.reverts(
            who,
            log(chain).logKeyIssued(holder, b"\x01" * 32, 1),
            "AccessLogUnauthorized",
            caller=chain.addr(who),
        )
    chain.reverts(
        "relayer",
        log(chain).logKeyIssued("0x" + "00" * 20, b"\x01" * 32, 1),
        "AccessLogZeroAddress",
    )
    # a suspended key authority may no longer log
    chain.send("admin", chain.c["Consortium"].functions.suspendMember(chain.addr("key_authority")))
    chain.reverts(
        "key_authority", log(chain).logKeyIssued(holder, b"\x01" * 32, 1), "AccessLogUnauthorized"
    )


def test_constructor_rejects_zero_addresses(chain: Chain) -> None:
    zero = "0x" + "00" * 20
    for args in ((zero, chain.addr("relayer")), (chain.c["Consortium"].address, zero)):
        assert chain.constructor_revert("AccessLog", *args).name == "AccessLogZeroAddress"
