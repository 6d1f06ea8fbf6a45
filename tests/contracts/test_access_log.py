"""AccessLog: any enrolled relayer logs accesses (single and batch) with the reader's signed
request kept in the event; key issuance by a relayer or a key authority; epochs; nothing is
stored but the epoch."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak

from crypto.signing import Purpose, ReadPart, ReadRequest, from_compact, recover
from ledger_api.chain.access_log import AccessEntry
from tests.contracts.helpers import ROLE_RELAYER, Chain, args, rid, same

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


def entry(
    chain: Chain,
    reader: str,
    label: str,
    *,
    granted: bool = True,
    purpose: int = Purpose.REFERRAL,
    part: ReadPart = ReadPart.BODY,
    reason_code: int = 0,
    nonce: int = 1,
) -> AccessEntry:
    request = ReadRequest(
        record_id=rid(label), part=part, purpose=purpose, issued_at=chain.now(), nonce=nonce
    )
    return AccessEntry.for_request(
        request,
        chain.sig(reader, request),
        accessor=chain.addr(reader),
        granted=granted,
        reason_code=reason_code,
        justification=keccak(text="consent:" + label) if granted else bytes(32),
    )


def test_wiring(chain: Chain) -> None:
    assert same(log(chain).consortium().call(), chain.c["Consortium"].address)
    assert log(chain).MAX_BATCH().call() == 64
    assert log(chain).eip712Domain().call()[1] == "MedLedger AccessLog"


def test_log_access_keeps_the_signed_request(chain: Chain) -> None:
    e = entry(chain, "doctor_b", "r1", part=ReadPart.HEADER, reason_code=3, nonce=2**64 - 1)
    receipt = chain.send("relayer", log(chain).logAccess(e.as_tuple()))
    ev = chain.one_event("AccessLog", "AccessLogged", receipt)
    sig_r, sig_vs = e.as_tuple()[4:]
    assert ev == {
        "recordId": rid("r1"),
        "accessor": chain.addr("doctor_b"),
        "purpose": int(Purpose.REFERRAL),
        "granted": True,
        "reasonCode": 3,
        "part": int(ReadPart.HEADER),
        "justification": e.justification,
        "issuedAt": e.issued_at,
        "nonce": 2**64 - 1,
        "sigR": sig_r,
        "sigVs": sig_vs,
    }
    # from chain data alone: the request and the signature recover the accessor
    request = ReadRequest(
        record_id=ev["recordId"],
        part=ev["part"],
        purpose=ev["purpose"],
        issued_at=ev["issuedAt"],
        nonce=ev["nonce"],
    )
    signature = from_compact(ev["sigR"], ev["sigVs"])
    assert recover(chain.domain("AccessLog"), request, signature) == chain.addr("doctor_b")
    assert log(chain).hashReadRequest(args(request)).call() == request.struct_hash()
    # nothing stored by logging: the only slot is the membership epoch (1, untouched)
    address = chain.c["AccessLog"].address
    assert int.from_bytes(chain.w3.eth.get_storage_at(address, 0), "big") == 1
    assert chain.w3.eth.get_storage_at(address, 1) == b"\x00" * 32


def test_denials_and_their_reason_codes(chain: Chain) -> None:
    e = entry(chain, "doctor_b", "r2", granted=False, purpose=Purpose.RESEARCH, reason_code=403)
    receipt = chain.send("relayer", log(chain).logAccess(e.as_tuple()))
    ev = chain.one_event("AccessLog", "AccessLogged", receipt)
    assert (ev["granted"], ev["reasonCode"], ev["purpose"]) == (False, 403, 4)
    assert ev["justification"] == bytes(32)
    unsigned = dataclasses.replace(e, signature=b"")
    receipt = chain.send("relayer", log(chain).logAccess(unsigned.as_tuple()))
    assert chain.one_event("AccessLog", "AccessLogged", receipt)["sigR"] == bytes(32)


def test_log_access_batch_in_order(chain: Chain) -> None:
    readers = ["doctor_a", "doctor_b"]
    entries = [
        entry(chain, readers[i % 2], f"b{i}", granted=i % 3 == 0, reason_code=i, nonce=i)
        for i in range(7)
    ]
    receipt = chain.send("relayer", log(chain).logAccessBatch([e.as_tuple() for e in entries]))
    events = chain.events("AccessLog", "AccessLogged", receipt)
    assert [
        (e["recordId"], e["accessor"], e["granted"], e["reasonCode"], e["nonce"]) for e in events
    ] == [(e.record_id, e.accessor, e.granted, e.reason_code, e.nonce) for e in entries]


def test_log_access_batch_bounds(chain: Chain) -> None:
    chain.reverts(
        "relayer", log(chain).logAccessBatch([]), "AccessLogInvalidBatch", length=0, max=64
    )
    one = entry(chain, "doctor_b", "x").as_tuple()
    chain.reverts(
        "relayer", log(chain).logAccessBatch([one] * 65), "AccessLogInvalidBatch", length=65
    )
    receipt = chain.send("relayer", log(chain).logAccessBatch([one] * 64))
    assert len(chain.events("AccessLog", "AccessLogged", receipt)) == 64


MALFORMED = {
    # field index in the packed tuple, and how to spoil it
    "zero_accessor": (2, lambda access: access & ~(2**160 - 1)),
    "part_3": (2, lambda access: access & ~(0xFF << 160) | 3 << 160),
    "granted_2": (2, lambda access: access & ~(0xFF << 176) | 2 << 176),
    "high_access_bits": (2, lambda access: access | 1 << 255),
    "high_request_bits": (3, lambda request: request | 1 << 128),
    "granted_unsigned": (4, lambda sig_r: bytes(32)),
}


@pytest.mark.parametrize("change", sorted(MALFORMED))
def test_malformed_entries_are_refused(chain: Chain, change: str) -> None:
    good = entry(chain, "doctor_b", "m").as_tuple()
    index, spoil = MALFORMED[change]
    bad = list(good)
    bad[index] = spoil(bad[index])
    chain.reverts("relayer", log(chain).logAccess(tuple(bad)), "AccessLogMalformedEntry", index=0)
    chain.reverts(
        "relayer",
        log(chain).logAccessBatch([good, good, tuple(bad)]),
        "AccessLogMalformedEntry",
        index=2,
    )


@pytest.mark.parametrize("who", NOT_RELAYER)
def test_only_relayers_log_access(chain: Chain, who: str) -> None:
    caller = chain.addr(who)
    one = entry(chain, "doctor_b", "x").as_tuple()
    chain.reverts(who, log(chain).logAccess(one), "AccessLogUnauthorized", caller=caller)
    chain.reverts(who, log(chain).logAccessBatch([one]), "AccessLogUnauthorized", caller=caller)


def test_relayers_rotate_in_consortium(chain: Chain) -> None:
    """A second relayer is enrolled and removed in Consortium; AccessLog follows at once."""
    con = chain.c["Consortium"].functions
    one = entry(chain, "doctor_b", "rot").as_tuple()
    chain.send("admin", con.enrolMember(chain.addr("outsider"), 0, ROLE_RELAYER, []))
    chain.send("outsider", log(chain).logAccess(one))
    chain.send("outsider", log(chain).logEpochAdvanced(2, keccak(text="rotation")))
    chain.send("admin", con.removeMember(chain.addr("outsider")))
    chain.reverts("outsider", log(chain).logAccess(one), "AccessLogUnauthorized")
    chain.reverts("outsider", log(chain).logEpochAdvanced(3, bytes(32)), "AccessLogUnauthorized")
    chain.send("admin", con.suspendMember(chain.addr("relayer")))
    chain.reverts("relayer", log(chain).logAccess(one), "AccessLogUnauthorized")


def test_log_key_issued_by_relayer_and_key_authority(chain: Chain) -> None:
    holder = chain.addr("doctor_a")
    attrs_hash = keccak(text="dept:cardio,title:attending")
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


def test_epochs_advance_one_at_a_time(chain: Chain) -> None:
    reason = keccak(text="member removed")
    receipt = chain.send("relayer", log(chain).logEpochAdvanced(2, reason))
    assert chain.one_event("AccessLog", "EpochAdvanced", receipt) == {"epoch": 2, "reason": reason}
    assert log(chain).currentEpoch().call() == 2
    chain.reverts(
        "relayer",
        log(chain).logEpochAdvanced(2, reason),
        "AccessLogInvalidEpoch",
        epoch=2,
        current=2,
    )
    chain.reverts("relayer", log(chain).logEpochAdvanced(4, reason), "AccessLogInvalidEpoch")
    chain.reverts("doctor_a", log(chain).logEpochAdvanced(3, reason), "AccessLogUnauthorized")


def test_constructor_rejects_zero_consortium(chain: Chain) -> None:
    zero = "0x" + "00" * 20
    assert chain.constructor_revert("AccessLog", zero).name == "AccessLogZeroAddress"
