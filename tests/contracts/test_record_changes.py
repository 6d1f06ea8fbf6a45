"""RecordRegistry re-keys, full re-keys, supersessions and withdrawals: each signed by the
patient or a clinician of the author institution, each applying once."""

from __future__ import annotations

import dataclasses

from eth_utils import keccak

from crypto.signing import (
    RecordBodyRekey,
    RecordRekey,
    RecordSupersede,
    RecordWithdraw,
    TypedMessage,
)
from tests.contracts.helpers import FAR, Chain, args, b32, cid_for, register, rid

ACTIVE, SUPERSEDED, WITHDRAWN = 1, 2, 3
FUNCTIONS = {
    "RecordRekey": "rekey",
    "RecordBodyRekey": "rekeyBody",
    "RecordSupersede": "supersede",
    "RecordWithdraw": "withdraw",
}


def reg(chain: Chain):
    return chain.c["RecordRegistry"].functions


def call(chain: Chain, message: TypedMessage, signer: str | None):
    """The registry call for ``message`` signed by ``signer`` (None: empty signature)."""
    signature = chain.sig(signer, message) if signer else b""
    return getattr(reg(chain), FUNCTIONS[message.primary_type()])(args(message), signature)


def rekey(record_id: bytes, version: int, label: str = "h") -> RecordRekey:
    return RecordRekey(
        id=record_id,
        version=version,
        header_cid=cid_for(label),
        policy_hash=b32(label),
        deadline=FAR,
    )


def body_rekey(record_id: bytes, version: int, label: str = "b") -> RecordBodyRekey:
    return RecordBodyRekey(
        id=record_id,
        version=version,
        body_cid=cid_for("body " + label),
        header_cid=cid_for("header " + label),
        body_hash=keccak(text=label),
        policy_hash=b32(label),
        deadline=FAR,
    )


def test_struct_hashes_match_python(chain: Chain) -> None:
    record_id = rid("hash")
    messages: list[TypedMessage] = [
        rekey(record_id, 7),
        body_rekey(record_id, 9),
        RecordSupersede(id=record_id, new_id=rid("other"), deadline=123),
        RecordWithdraw(id=record_id, reason_code=200, deadline=2**64 - 1),
    ]
    for m in messages:
        assert getattr(reg(chain), "hash" + m.primary_type())(args(m)).call() == m.struct_hash()


def test_rekey_by_each_manager_bumps_the_version(chain: Chain) -> None:
    record_id = register(chain, "k1")
    receipt = chain.send("relayer", call(chain, rekey(record_id, 1, "p2"), "doctor_a2"))
    assert chain.one_event("RecordRegistry", "RecordRekeyed", receipt) == {
        "id": record_id,
        "patient": chain.addr("patient"),
        "actor": chain.addr("doctor_a2"),
        "version": 2,
        "headerCid": cid_for("p2"),
        "policyHash": b32("p2"),
    }
    chain.send("patient", call(chain, rekey(record_id, 2), None))  # the patient, directly
    chain.send("relayer", call(chain, rekey(record_id, 3), "patient"))  # relayed
    receipt = chain.send("relayer", call(chain, rekey(record_id, 4), "nurse_a"))
    assert chain.one_event("RecordRegistry", "RecordRekeyed", receipt)["version"] == 5
    assert reg(chain).recordOf(record_id).call()[2] == 5


def test_a_signed_rekey_applies_once(chain: Chain) -> None:
    record_id = register(chain, "once")
    message = rekey(record_id, 1)
    signature = chain.sig("patient", message)
    chain.send("relayer", reg(chain).rekey(args(message), signature))
    chain.reverts(
        "relayer",
        reg(chain).rekey(args(message), signature),
        "RecordRegistryStaleVersion",
        id=record_id,
        signedVersion=1,
        currentVersion=2,
    )
    ahead = rekey(record_id, 5)
    chain.reverts(
        "relayer", call(chain, ahead, "patient"), "RecordRegistryStaleVersion", signedVersion=5
    )


def test_rekey_reverts(chain: Chain) -> None:
    record_id = register(chain, "k2")
    m = rekey(record_id, 1)
    for who in ("doctor_b", "auditor_a", "patient2", "outsider", "key_authority", "relayer"):
        chain.reverts(
            "relayer", call(chain, m, who), "RecordRegistryUnauthorized", actor=chain.addr(who)
        )
    chain.reverts(
        "doctor_b",
        call(chain, m, "doctor_a"),
        "RecordRegistryUnauthorizedRelay",
        caller=chain.addr("doctor_b"),
    )
    missing = rekey(rid("none"), 1)
    chain.reverts("relayer", call(chain, missing, "doctor_a"), "RecordRegistryUnknownRecord")
    empty = dataclasses.replace(m, header_cid="")
    chain.reverts(
        "relayer", call(chain, empty, "doctor_a"), "RecordRegistryInvalidRecord", id=record_id
    )


def test_self_authored_record_is_managed_by_the_patient_only(chain: Chain) -> None:
    own = register(chain, "own2", by="patient")
    chain.reverts("relayer", call(chain, rekey(own, 1), "doctor_a"), "RecordRegistryUnauthorized")
    chain.send("relayer", call(chain, rekey(own, 1), "patient"))


def test_rekey_body_emits_the_new_body_and_shares_the_counter(chain: Chain) -> None:
    record_id = register(chain, "rb1")
    m = body_rekey(record_id, 1, "2")
    receipt = chain.send("relayer", call(chain, m, "patient"))
    assert chain.one_event("RecordRegistry", "RecordBodyRekeyed", receipt) == {
        "id": record_id,
        "patient": chain.addr("patient"),
        "actor": chain.addr("patient"),
        "version": 2,
        "bodyCid": m.body_cid,
        "headerCid": m.header_cid,
        "bodyHash": m.body_hash,
        "policyHash": m.policy_hash,
    }
    print("rekeyBody relayed gas", receipt["gasUsed"])
    assert receipt["gasUsed"] <= 60_000
    receipt = chain.send("relayer", call(chain, rekey(record_id, 2), "doctor_a2"))
    assert chain.one_event("RecordRegistry", "RecordRekeyed", receipt)["version"] == 3
    receipt = chain.send("nurse_a", call(chain, body_rekey(record_id, 3, "4"), None))
    assert chain.one_event("RecordRegistry", "RecordBodyRekeyed", receipt)["version"] == 4
    assert reg(chain).recordOf(record_id).call()[2:4] == [4, ACTIVE]


def test_rekey_body_reverts_and_changes_nothing(chain: Chain) -> None:
    record_id = register(chain, "rb2")
    m = body_rekey(record_id, 1)
    for who in ("doctor_b", "auditor_a", "patient2", "outsider"):
        chain.reverts("relayer", call(chain, m, who), "RecordRegistryUnauthorized")
    chain.reverts("doctor_b", call(chain, m, "patient"), "RecordRegistryUnauthorizedRelay")
    for changes in ({"header_cid": ""}, {"body_cid": ""}, {"body_hash": bytes(32)}):
        bad = dataclasses.replace(m, **changes)  # type: ignore[arg-type]
        chain.reverts(
            "relayer", call(chain, bad, "doctor_a"), "RecordRegistryInvalidRecord", id=record_id
        )
    withdraw = RecordWithdraw(id=record_id, reason_code=1, deadline=FAR)
    chain.send("relayer", call(chain, withdraw, "doctor_a"))
    chain.reverts(
        "relayer", call(chain, m, "doctor_a"), "RecordRegistryNotActive", status=WITHDRAWN
    )
    assert reg(chain).recordOf(record_id).call()[2] == 1  # no failed attempt bumped the version


def test_supersede_once(chain: Chain) -> None:
    old, new = register(chain, "old"), register(chain, "new")
    m = RecordSupersede(id=old, new_id=new, deadline=FAR)
    signature = chain.sig("doctor_a", m)
    receipt = chain.send("relayer", reg(chain).supersede(args(m), signature))
    ev = chain.one_event("RecordRegistry", "RecordSuperseded", receipt)
    assert ev == {"id": old, "newId": new, "actor": chain.addr("doctor_a")}
    assert reg(chain).recordOf(old).call()[3] == SUPERSEDED
    assert reg(chain).isActive(old).call() is False
    chain.reverts(  # replayed: the transition happened
        "relayer",
        reg(chain).supersede(args(m), signature),
        "RecordRegistryNotActive",
        id=old,
        status=SUPERSEDED,
    )
    back = RecordSupersede(id=new, new_id=old, deadline=FAR)
    chain.reverts("relayer", call(chain, back, "doctor_a"), "RecordRegistryNotActive", id=old)


def test_supersede_reverts(chain: Chain) -> None:
    a = register(chain, "sa")
    other_patient = register(chain, "sb", patient="patient2")
    chain.reverts(
        "relayer",
        call(chain, RecordSupersede(id=a, new_id=a, deadline=FAR), "doctor_a"),
        "RecordRegistryInvalidSupersession",
    )
    chain.reverts(
        "relayer",
        call(chain, RecordSupersede(id=a, new_id=other_patient, deadline=FAR), "doctor_a"),
        "RecordRegistryInvalidSupersession",
        id=a,
        newId=other_patient,
    )
    chain.reverts(
        "relayer",
        call(chain, RecordSupersede(id=a, new_id=rid("missing"), deadline=FAR), "doctor_a"),
        "RecordRegistryUnknownRecord",
        id=rid("missing"),
    )
    b = register(chain, "sc")
    chain.reverts(
        "relayer",
        call(chain, RecordSupersede(id=a, new_id=b, deadline=FAR), "doctor_b"),
        "RecordRegistryUnauthorized",
    )


def test_withdraw_once(chain: Chain) -> None:
    record_id = register(chain, "w1")
    m = RecordWithdraw(id=record_id, reason_code=7, deadline=FAR)
    signature = chain.sig("patient", m)
    receipt = chain.send("relayer", reg(chain).withdraw(args(m), signature))
    ev = chain.one_event("RecordRegistry", "RecordWithdrawn", receipt)
    assert ev == {"id": record_id, "actor": chain.addr("patient"), "reasonCode": 7}
    assert reg(chain).recordOf(record_id).call()[3] == WITHDRAWN
    chain.reverts(
        "relayer",
        reg(chain).withdraw(args(m), signature),
        "RecordRegistryNotActive",
        status=WITHDRAWN,
    )
    chain.reverts(  # withdrawn ids stay taken
        "relayer",
        reg(chain).register(*_registration_call(chain, record_id)),
        "RecordRegistryDuplicateId",
    )


def _registration_call(chain: Chain, record_id: bytes) -> tuple[tuple[object, ...], bytes]:
    from tests.contracts.helpers import registration

    message = registration(record_id, chain.addr("patient"), seed="again")
    return args(message), chain.sig("doctor_a", message)


def test_withdraw_reverts(chain: Chain) -> None:
    record_id = register(chain, "w2")
    m = RecordWithdraw(id=record_id, reason_code=1, deadline=FAR)
    for who in ("doctor_b", "patient2", "auditor_a"):
        chain.reverts("relayer", call(chain, m, who), "RecordRegistryUnauthorized")
    chain.reverts("outsider", call(chain, m, "patient"), "RecordRegistryUnauthorizedRelay")
    unknown = RecordWithdraw(id=rid("nope"), reason_code=1, deadline=FAR)
    chain.reverts("relayer", call(chain, unknown, "patient"), "RecordRegistryUnknownRecord")


def test_version_overflow(chain: Chain) -> None:
    from tests.contracts.test_record_registry import record_slot

    record_id = register(chain, "old-record")
    address = chain.c["RecordRegistry"].address
    slot = record_slot(record_id)
    word = int.from_bytes(chain.w3.eth.get_storage_at(address, slot), "big")
    word |= 0xFFFF << 232  # version 65535, as after 65,534 re-keys (dev-only storage write)
    chain.w3.provider.make_request(
        "anvil_setStorageAt", [address, hex(slot), "0x" + word.to_bytes(32, "big").hex()]
    )
    assert reg(chain).recordOf(record_id).call()[2] == 65535
    chain.reverts(
        "relayer",
        call(chain, rekey(record_id, 65535), "doctor_a"),
        "RecordRegistryVersionOverflow",
        id=record_id,
    )
