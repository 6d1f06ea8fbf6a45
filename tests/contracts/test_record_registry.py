"""RecordRegistry: register (direct, relayed, batch), re-key, supersede, withdraw, views."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address

from tests.contracts.helpers import Chain, b32, cid_for, record_input, rid, same

ACTIVE, SUPERSEDED, WITHDRAWN = 1, 2, 3
ZERO = "0x" + "00" * 20


def reg(chain: Chain):
    return chain.c["RecordRegistry"].functions


def register(chain: Chain, label: str, *, by: str = "doctor_a", patient: str = "patient") -> bytes:
    record_id = rid(label)
    chain.send(
        by, reg(chain).register(record_input(record_id, chain.addr(patient), chain.addr(by)))
    )
    return record_id


def test_register_direct_stores_slot_and_emits_everything(chain: Chain) -> None:
    r = record_input(rid("r1"), chain.addr("patient"), chain.addr("doctor_a"), record_type="Bundle")
    receipt = chain.send("doctor_a", reg(chain).register(r))
    ev = chain.one_event("RecordRegistry", "RecordRegistered", receipt)
    block = chain.w3.eth.get_block(receipt["blockNumber"])
    assert ev == {
        "id": r[0],
        "patient": r[1],
        "authorInstitution": 1,
        "author": r[2],
        "bodyCid": r[3],
        "headerCid": r[4],
        "bodyHash": r[5],
        "policyHash": r[6],
        "recordType": b32("Bundle"),
        "registeredAt": block["timestamp"],
    }
    assert reg(chain).recordOf(r[0]).call() == [r[1], 1, 1, ACTIVE, block["timestamp"]]
    assert reg(chain).exists(r[0]).call() is True
    assert reg(chain).isActive(r[0]).call() is True
    assert same(reg(chain).patientOf(r[0]).call(), r[1])


def test_register_by_nurse(chain: Chain) -> None:
    record_id = register(chain, "n1", by="nurse_a")
    assert reg(chain).recordOf(record_id).call()[1] == 1


def test_register_relayed_for_clinician_and_for_patient(chain: Chain) -> None:
    doctor_b = chain.addr("doctor_b")
    r = record_input(rid("rb"), chain.addr("patient"), doctor_b)
    receipt = chain.send("relayer", reg(chain).register(r))
    ev = chain.one_event("RecordRegistry", "RecordRegistered", receipt)
    assert same(ev["author"], doctor_b)
    assert ev["authorInstitution"] == 2
    # a patient's own upload, relayed: author = patient, institution 0
    own = record_input(rid("own"), chain.addr("patient"), chain.addr("patient"))
    receipt = chain.send("relayer", reg(chain).register(own))
    ev = chain.one_event("RecordRegistry", "RecordRegistered", receipt)
    assert same(ev["author"], chain.addr("patient"))
    assert ev["authorInstitution"] == 0
    assert reg(chain).recordOf(rid("own")).call()[1] == 0


def test_register_duplicate_id_reverts(chain: Chain) -> None:
    record_id = register(chain, "dup")
    again = record_input(record_id, chain.addr("patient2"), chain.addr("doctor_a"), seed="other")
    chain.reverts("doctor_a", reg(chain).register(again), "RecordRegistryDuplicateId", id=record_id)
    # also through the relayer and inside a batch
    chain.reverts("relayer", reg(chain).register(again), "RecordRegistryDuplicateId")
    chain.reverts(
        "doctor_a",
        reg(chain).registerBatch(
            [record_input(rid("fresh"), chain.addr("patient"), chain.addr("doctor_a")), again]
        ),
        "RecordRegistryDuplicateId",
        id=record_id,
    )
    assert reg(chain).exists(rid("fresh")).call() is False  # all-or-nothing


@pytest.mark.parametrize(
    ("field", "value"),
    [(0, b"\x00" * 32), (1, ZERO), (3, ""), (4, ""), (5, b"\x00" * 32)],
)
def test_register_invalid_record(chain: Chain, field: int, value: object) -> None:
    r = list(record_input(rid("bad"), chain.addr("patient"), chain.addr("doctor_a")))
    r[field] = value
    chain.reverts("doctor_a", reg(chain).register(tuple(r)), "RecordRegistryInvalidRecord", id=r[0])


@pytest.mark.parametrize("who", ["auditor_a", "key_authority", "inst_a_admin", "admin", "patient"])
def test_non_clinicians_cannot_register(chain: Chain, who: str) -> None:
    r = record_input(rid("x" + who), chain.addr("patient"), chain.addr(who))
    chain.reverts(who, reg(chain).register(r), "RecordRegistryNotAuthor", author=chain.addr(who))
    # nor can the relayer act for them (except a patient for their own record, tested above)
    if who != "patient":
        chain.reverts("relayer", reg(chain).register(r), "RecordRegistryNotAuthor")


def test_relayer_cannot_author_itself(chain: Chain) -> None:
    r = record_input(rid("rel"), chain.addr("patient"), chain.addr("relayer"))
    chain.reverts("relayer", reg(chain).register(r), "RecordRegistryNotAuthor")


def test_relayer_cannot_register_for_patient_of_someone_else(chain: Chain) -> None:
    # author = patient2 but the record names patient: not a self-upload
    r = record_input(rid("mix"), chain.addr("patient"), chain.addr("patient2"))
    chain.reverts("relayer", reg(chain).register(r), "RecordRegistryNotAuthor")


@pytest.mark.parametrize("who", ["doctor_b", "nurse_a", "auditor_a", "patient", "outsider"])
def test_only_relayer_may_name_another_author(chain: Chain, who: str) -> None:
    r = record_input(rid("imp" + who), chain.addr("patient"), chain.addr("doctor_a"))
    chain.reverts(
        who, reg(chain).register(r), "RecordRegistryUnauthorizedRelay", caller=chain.addr(who)
    )


def test_suspended_author_and_suspended_relayer(chain: Chain) -> None:
    con = chain.c["Consortium"].functions
    chain.send("inst_a_admin", con.suspendMember(chain.addr("doctor_a")))
    r = record_input(rid("s1"), chain.addr("patient"), chain.addr("doctor_a"))
    chain.reverts("doctor_a", reg(chain).register(r), "RecordRegistryNotAuthor")
    chain.reverts("relayer", reg(chain).register(r), "RecordRegistryNotAuthor")
    chain.send("admin", con.suspendInstitution(2))
    rb = record_input(rid("s2"), chain.addr("patient"), chain.addr("doctor_b"))
    chain.reverts("doctor_b", reg(chain).register(rb), "RecordRegistryNotAuthor")
    chain.send("admin", con.suspendMember(chain.addr("relayer")))
    rn = record_input(rid("s3"), chain.addr("patient"), chain.addr("nurse_a"))
    chain.reverts("relayer", reg(chain).register(rn), "RecordRegistryUnauthorizedRelay")


def test_register_batch_mixed_authors(chain: Chain) -> None:
    authors = ["doctor_a", "doctor_a", "doctor_b", "patient", "nurse_a"]
    batch = [
        record_input(rid(f"batch{i}"), chain.addr("patient"), chain.addr(a))
        for i, a in enumerate(authors)
    ]
    receipt = chain.send("relayer", reg(chain).registerBatch(batch))
    events = chain.events("RecordRegistry", "RecordRegistered", receipt)
    assert [e["id"] for e in events] == [r[0] for r in batch]
    assert [e["authorInstitution"] for e in events] == [1, 1, 2, 0, 1]
    assert [e["bodyCid"] for e in events] == [r[3] for r in batch]
    for r in batch:
        assert reg(chain).isActive(r[0]).call() is True


def test_register_batch_direct(chain: Chain) -> None:
    batch = [
        record_input(rid(f"d{i}"), chain.addr("patient2"), chain.addr("doctor_a")) for i in range(3)
    ]
    receipt = chain.send("doctor_a", reg(chain).registerBatch(batch))
    assert len(chain.events("RecordRegistry", "RecordRegistered", receipt)) == 3
    # a direct batch naming another author needs the relayer
    other = [record_input(rid("d9"), chain.addr("patient2"), chain.addr("doctor_b"))]
    chain.reverts("doctor_a", reg(chain).registerBatch(other), "RecordRegistryUnauthorizedRelay")


def test_register_batch_bounds(chain: Chain) -> None:
    chain.reverts(
        "relayer", reg(chain).registerBatch([]), "RecordRegistryInvalidBatch", length=0, max=64
    )
    assert reg(chain).MAX_BATCH().call() == 64
    too_many = [
        record_input(rid(f"m{i}"), chain.addr("patient"), chain.addr("doctor_a")) for i in range(65)
    ]
    chain.reverts(
        "relayer", reg(chain).registerBatch(too_many), "RecordRegistryInvalidBatch", length=65
    )


def test_register_batch_bad_author_in_the_middle(chain: Chain) -> None:
    batch = [
        record_input(rid("ok1"), chain.addr("patient"), chain.addr("doctor_a")),
        record_input(rid("ok2"), chain.addr("patient"), chain.addr("auditor_a")),
    ]
    chain.reverts(
        "relayer", reg(chain).registerBatch(batch), "RecordRegistryNotAuthor", author=batch[1][2]
    )
    # the same author twice in a row is cached; a patient is never cached as a clinician
    batch = [
        record_input(rid("p1"), chain.addr("patient"), chain.addr("patient")),
        record_input(rid("p2"), chain.addr("patient2"), chain.addr("patient")),
    ]
    chain.reverts("relayer", reg(chain).registerBatch(batch), "RecordRegistryNotAuthor")


# -- re-key ------------------------------------------------------------------------------------


def test_rekey_by_author_institution_and_patient(chain: Chain) -> None:
    record_id = register(chain, "k1")
    new_header = cid_for("new header")
    receipt = chain.send(
        "doctor_a2", reg(chain).rekey(chain.addr("doctor_a2"), record_id, new_header, b32("p2"))
    )
    ev = chain.one_event("RecordRegistry", "RecordRekeyed", receipt)
    assert ev == {
        "id": record_id,
        "patient": chain.addr("patient"),
        "actor": chain.addr("doctor_a2"),
        "version": 2,
        "headerCid": new_header,
        "policyHash": b32("p2"),
    }
    assert reg(chain).recordOf(record_id).call()[2] == 2
    # the patient, directly and through the relayer
    chain.send("patient", reg(chain).rekey(chain.addr("patient"), record_id, new_header, b32("p3")))
    chain.send("relayer", reg(chain).rekey(chain.addr("patient"), record_id, new_header, b32("p4")))
    # a nurse of the author institution, via the relayer
    receipt = chain.send(
        "relayer", reg(chain).rekey(chain.addr("nurse_a"), record_id, new_header, b32("p5"))
    )
    assert chain.one_event("RecordRegistry", "RecordRekeyed", receipt)["version"] == 5


def test_rekey_reverts(chain: Chain) -> None:
    record_id = register(chain, "k2")
    f = reg(chain)
    h = cid_for("h")
    for who in ("doctor_b", "auditor_a", "patient2", "outsider", "key_authority"):
        actor = chain.addr(who)
        chain.reverts(
            who, f.rekey(actor, record_id, h, b32("p")), "RecordRegistryUnauthorized", actor=actor
        )
    chain.reverts(
        "doctor_b",
        f.rekey(chain.addr("doctor_a"), record_id, h, b32("p")),
        "RecordRegistryUnauthorizedRelay",
    )
    chain.reverts(
        "doctor_a",
        f.rekey(chain.addr("doctor_a"), rid("none"), h, b32("p")),
        "RecordRegistryUnknownRecord",
        id=rid("none"),
    )
    chain.reverts(
        "doctor_a",
        f.rekey(chain.addr("doctor_a"), record_id, "", b32("p")),
        "RecordRegistryInvalidRecord",
    )


def test_rekey_patient_own_upload_by_patient_only(chain: Chain) -> None:
    own = record_input(rid("own2"), chain.addr("patient"), chain.addr("patient"))
    chain.send("relayer", reg(chain).register(own))
    # institution 0: no clinician manages it
    chain.reverts(
        "doctor_a",
        reg(chain).rekey(chain.addr("doctor_a"), own[0], cid_for("h"), b32("p")),
        "RecordRegistryUnauthorized",
    )
    chain.send("patient", reg(chain).rekey(chain.addr("patient"), own[0], cid_for("h"), b32("p")))


# -- supersede / withdraw ---------------------------------------------------------------------


def test_supersede(chain: Chain) -> None:
    old, new = register(chain, "old"), register(chain, "new")
    receipt = chain.send("doctor_a", reg(chain).supersede(chain.addr("doctor_a"), old, new))
    ev = chain.one_event("RecordRegistry", "RecordSuperseded", receipt)
    assert ev == {"id": old, "newId": new, "actor": chain.addr("doctor_a")}
    assert reg(chain).recordOf(old).call()[3] == SUPERSEDED
    assert reg(chain).isActive(old).call() is False
    # an inactive record can no longer be changed
    chain.reverts(
        "doctor_a",
        reg(chain).rekey(chain.addr("doctor_a"), old, cid_for("h"), b32("p")),
        "RecordRegistryNotActive",
        id=old,
        status=SUPERSEDED,
    )
    chain.reverts(
        "doctor_a",
        reg(chain).supersede(chain.addr("doctor_a"), new, old),
        "RecordRegistryNotActive",
        id=old,
    )


def test_supersede_reverts(chain: Chain) -> None:
    a = register(chain, "sa")
    other_patient = register(chain, "sb", patient="patient2")
    me = chain.addr("doctor_a")
    chain.reverts("doctor_a", reg(chain).supersede(me, a, a), "RecordRegistryInvalidSupersession")
    chain.reverts(
        "doctor_a",
        reg(chain).supersede(me, a, other_patient),
        "RecordRegistryInvalidSupersession",
        id=a,
        newId=other_patient,
    )
    chain.reverts(
        "doctor_a",
        reg(chain).supersede(me, a, rid("missing")),
        "RecordRegistryUnknownRecord",
        id=rid("missing"),
    )
    b = register(chain, "sc")
    chain.reverts(
        "doctor_b",
        reg(chain).supersede(chain.addr("doctor_b"), a, b),
        "RecordRegistryUnauthorized",
    )


def test_withdraw(chain: Chain) -> None:
    record_id = register(chain, "w1")
    receipt = chain.send("relayer", reg(chain).withdraw(chain.addr("patient"), record_id, 7))
    ev = chain.one_event("RecordRegistry", "RecordWithdrawn", receipt)
    assert ev == {"id": record_id, "actor": chain.addr("patient"), "reasonCode": 7}
    assert reg(chain).recordOf(record_id).call()[3] == WITHDRAWN
    chain.reverts(
        "patient",
        reg(chain).withdraw(chain.addr("patient"), record_id, 1),
        "RecordRegistryNotActive",
        status=WITHDRAWN,
    )
    # withdrawn ids stay taken
    chain.reverts(
        "doctor_a",
        reg(chain).register(record_input(record_id, chain.addr("patient"), chain.addr("doctor_a"))),
        "RecordRegistryDuplicateId",
    )


def test_withdraw_reverts(chain: Chain) -> None:
    record_id = register(chain, "w2")
    for who in ("doctor_b", "patient2", "auditor_a"):
        chain.reverts(
            who, reg(chain).withdraw(chain.addr(who), record_id, 1), "RecordRegistryUnauthorized"
        )
    chain.reverts(
        "outsider",
        reg(chain).withdraw(chain.addr("patient"), record_id, 1),
        "RecordRegistryUnauthorizedRelay",
    )
    chain.reverts(
        "patient",
        reg(chain).withdraw(chain.addr("patient"), rid("nope"), 1),
        "RecordRegistryUnknownRecord",
    )


def test_views_for_unknown_record(chain: Chain) -> None:
    missing = rid("never")
    chain.reverts(
        "outsider", reg(chain).recordOf(missing), "RecordRegistryUnknownRecord", id=missing
    )
    assert reg(chain).exists(missing).call() is False
    assert reg(chain).isActive(missing).call() is False
    assert int(reg(chain).patientOf(missing).call(), 16) == 0


def test_paging_by_patient_through_indexed_logs(chain: Chain) -> None:
    """Paging by patient is a log filter on the indexed `patient` topic (see NatSpec)."""
    start = chain.w3.eth.block_number + 1
    mine = [register(chain, f"pg{i}") for i in range(3)]
    register(chain, "pg-other", patient="patient2")
    ev = chain.c["RecordRegistry"].events.RecordRegistered()
    logs = ev.get_logs(
        from_block=start, argument_filters={"patient": to_checksum_address(chain.addr("patient"))}
    )
    assert [log["args"]["id"] for log in logs] == mine


def _record_slot(record_id: bytes) -> int:
    # `_records` is the registry's first storage variable (slot 0): mapping slot = keccak(id ‖ 0)
    return int.from_bytes(keccak(record_id + (0).to_bytes(32, "big")), "big")


def test_a_record_is_exactly_one_packed_slot(chain: Chain) -> None:
    record_id = register(chain, "layout")
    address = chain.c["RecordRegistry"].address
    slot = _record_slot(record_id)
    word = int.from_bytes(chain.w3.eth.get_storage_at(address, slot), "big")
    patient, inst, version, status, at = reg(chain).recordOf(record_id).call()
    assert word & (2**160 - 1) == int(patient, 16)
    assert (word >> 160) & (2**32 - 1) == inst == 1
    assert (word >> 192) & (2**40 - 1) == at
    assert (word >> 232) & 0xFFFF == version == 1
    assert word >> 248 == status == ACTIVE
    assert chain.w3.eth.get_storage_at(address, slot + 1) == b"\x00" * 32


def test_version_overflow(chain: Chain) -> None:
    record_id = register(chain, "old-record")
    address = chain.c["RecordRegistry"].address
    slot = _record_slot(record_id)
    word = int.from_bytes(chain.w3.eth.get_storage_at(address, slot), "big")
    word |= 0xFFFF << 232  # version 65535, as after 65,534 re-keys (dev-only storage write)
    chain.w3.provider.make_request(
        "anvil_setStorageAt", [address, hex(slot), "0x" + word.to_bytes(32, "big").hex()]
    )
    assert reg(chain).recordOf(record_id).call()[2] == 65535
    chain.reverts(
        "doctor_a",
        reg(chain).rekey(chain.addr("doctor_a"), record_id, cid_for("h"), b32("p")),
        "RecordRegistryVersionOverflow",
        id=record_id,
    )
