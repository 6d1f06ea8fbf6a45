"""RecordRegistry registrations: the author is recovered from their signature (direct, relayed,
batch), who may author, the one-slot layout, views."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak, to_checksum_address

from crypto.signing import RecordRegistration
from tests.contracts.helpers import (
    ROLE_GATEWAY,
    Chain,
    args,
    b32,
    register,
    registration,
    rid,
    same,
)

ACTIVE, SUPERSEDED, WITHDRAWN = 1, 2, 3
ZERO = "0x" + "00" * 20


def reg(chain: Chain):
    return chain.c["RecordRegistry"].functions


def signed_call(chain: Chain, message: RecordRegistration, signer: str):
    return reg(chain).register(args(message), chain.sig(signer, message))


def test_relayed_registration_names_the_signer_and_stores_one_slot(chain: Chain) -> None:
    r = registration(rid("r1"), chain.addr("patient"), record_type="Bundle")
    receipt = chain.send("relayer", signed_call(chain, r, "doctor_a"))
    ev = chain.one_event("RecordRegistry", "RecordRegistered", receipt)
    block = chain.w3.eth.get_block(receipt["blockNumber"])
    assert ev == {
        "id": r.id,
        "patient": chain.addr("patient"),
        "authorInstitution": 1,
        "author": chain.addr("doctor_a"),
        "bodyCid": r.body_cid,
        "headerCid": r.header_cid,
        "bodyHash": r.body_hash,
        "policyHash": r.policy_hash,
        "recordType": b32("Bundle"),
        "registeredAt": block["timestamp"],
    }
    assert reg(chain).recordOf(r.id).call() == [r.patient, 1, 1, ACTIVE, block["timestamp"]]
    assert reg(chain).exists(r.id).call() is True
    assert reg(chain).isActive(r.id).call() is True
    assert same(reg(chain).patientOf(r.id).call(), r.patient)


def test_struct_hash_and_domain_match_python(chain: Chain) -> None:
    r = registration(rid("h"), chain.addr("patient"))
    assert reg(chain).hashRecordRegistration(args(r)).call() == r.struct_hash()
    assert reg(chain).REGISTRATION_TYPEHASH().call() == keccak(text=r.type_string())
    domain = chain.domain("RecordRegistry")
    assert reg(chain).eip712Domain().call()[1:5] == [
        "MedLedger RecordRegistry",
        "1",
        domain.chain_id,
        chain.c["RecordRegistry"].address,
    ]


def test_direct_registration_needs_no_signature(chain: Chain) -> None:
    r = registration(rid("d1"), chain.addr("patient"))
    receipt = chain.send("nurse_a", reg(chain).register(args(r), b""))
    ev = chain.one_event("RecordRegistry", "RecordRegistered", receipt)
    assert same(ev["author"], chain.addr("nurse_a"))
    # a direct sender may also bring its own signature
    r2 = registration(rid("d2"), chain.addr("patient"))
    chain.send("doctor_a", signed_call(chain, r2, "doctor_a"))
    assert reg(chain).recordOf(r2.id).call()[1] == 1


def test_patient_authors_own_records_relayed_or_direct(chain: Chain) -> None:
    own = registration(rid("own"), chain.addr("patient"))
    receipt = chain.send("relayer", signed_call(chain, own, "patient"))
    ev = chain.one_event("RecordRegistry", "RecordRegistered", receipt)
    assert same(ev["author"], chain.addr("patient"))
    assert ev["authorInstitution"] == 0
    direct = registration(rid("own-direct"), chain.addr("patient"))
    chain.send("patient", reg(chain).register(args(direct), b""))
    assert reg(chain).recordOf(direct.id).call()[1] == 0


def test_a_gateway_authors_for_its_institution(chain: Chain) -> None:
    con = chain.c["Consortium"].functions
    gateway = chain.accounts["outsider"]
    chain.send("inst_b_admin", con.enrolMember(gateway.address, 2, ROLE_GATEWAY, []))
    r = registration(rid("gw"), chain.addr("patient"))
    receipt = chain.send("relayer", signed_call(chain, r, "outsider"))
    ev = chain.one_event("RecordRegistry", "RecordRegistered", receipt)
    assert (ev["author"], ev["authorInstitution"]) == (gateway.address, 2)


def test_register_duplicate_id_reverts(chain: Chain) -> None:
    record_id = register(chain, "dup")
    again = registration(record_id, chain.addr("patient2"), seed="other")
    chain.reverts(
        "relayer", signed_call(chain, again, "doctor_a"), "RecordRegistryDuplicateId", id=record_id
    )
    fresh = registration(rid("fresh"), chain.addr("patient"))
    batch = [fresh, again]
    chain.reverts(
        "relayer",
        reg(chain).registerBatch(
            [args(m) for m in batch], [chain.sig("doctor_a", m) for m in batch]
        ),
        "RecordRegistryDuplicateId",
        id=record_id,
    )
    assert reg(chain).exists(fresh.id).call() is False  # all-or-nothing


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", b"\x00" * 32),
        ("patient", ZERO),
        ("body_cid", ""),
        ("header_cid", ""),
        ("body_hash", b"\x00" * 32),
    ],
)
def test_register_invalid_record(chain: Chain, field: str, value: object) -> None:
    r = dataclasses.replace(registration(rid("bad"), chain.addr("patient")), **{field: value})
    chain.reverts(
        "relayer", signed_call(chain, r, "doctor_a"), "RecordRegistryInvalidRecord", id=r.id
    )


@pytest.mark.parametrize("who", ["auditor_a", "key_authority", "inst_a_admin", "admin", "relayer"])
def test_non_clinicians_cannot_author(chain: Chain, who: str) -> None:
    r = registration(rid("x" + who), chain.addr("patient"))
    chain.reverts(
        "relayer", signed_call(chain, r, who), "RecordRegistryNotAuthor", author=chain.addr(who)
    )
    chain.reverts(who, reg(chain).register(args(r), b""), "RecordRegistryNotAuthor")


def test_nobody_authors_for_another_patient(chain: Chain) -> None:
    # patient2 signs a record naming patient: not a self-upload, and no clinician
    r = registration(rid("mix"), chain.addr("patient"))
    chain.reverts("relayer", signed_call(chain, r, "patient2"), "RecordRegistryNotAuthor")


@pytest.mark.parametrize("who", ["doctor_b", "nurse_a", "auditor_a", "patient", "outsider"])
def test_only_relayers_carry_someone_elses_signature(chain: Chain, who: str) -> None:
    r = registration(rid("imp" + who), chain.addr("patient"))
    chain.reverts(
        who,
        signed_call(chain, r, "doctor_a"),
        "RecordRegistryUnauthorizedRelay",
        caller=chain.addr(who),
    )


def test_suspended_author_and_suspended_relayer(chain: Chain) -> None:
    con = chain.c["Consortium"].functions
    chain.send("inst_a_admin", con.suspendMember(chain.addr("doctor_a")))
    r = registration(rid("s1"), chain.addr("patient"))
    chain.reverts("relayer", signed_call(chain, r, "doctor_a"), "RecordRegistryNotAuthor")
    chain.send("admin", con.suspendInstitution(2))
    rb = registration(rid("s2"), chain.addr("patient"))
    chain.reverts("relayer", signed_call(chain, rb, "doctor_b"), "RecordRegistryNotAuthor")
    chain.send("admin", con.suspendMember(chain.addr("relayer")))
    rn = registration(rid("s3"), chain.addr("patient"))
    chain.reverts("relayer", signed_call(chain, rn, "nurse_a"), "RecordRegistryUnauthorizedRelay")


def test_register_batch_mixed_authors(chain: Chain) -> None:
    authors = ["doctor_a", "doctor_a", "doctor_b", "patient", "nurse_a"]
    batch = [registration(rid(f"batch{i}"), chain.addr("patient")) for i in range(len(authors))]
    sigs = [chain.sig(a, m) for a, m in zip(authors, batch, strict=True)]
    receipt = chain.send("relayer", reg(chain).registerBatch([args(m) for m in batch], sigs))
    events = chain.events("RecordRegistry", "RecordRegistered", receipt)
    assert [e["id"] for e in events] == [m.id for m in batch]
    assert [e["authorInstitution"] for e in events] == [1, 1, 2, 0, 1]
    assert [e["author"] for e in events] == [chain.addr(a) for a in authors]
    assert [e["bodyCid"] for e in events] == [m.body_cid for m in batch]


def test_register_batch_direct_and_mixed_direct(chain: Chain) -> None:
    batch = [registration(rid(f"d{i}"), chain.addr("patient2")) for i in range(3)]
    receipt = chain.send(
        "doctor_a", reg(chain).registerBatch([args(m) for m in batch], [b"", b"", b""])
    )
    assert len(chain.events("RecordRegistry", "RecordRegistered", receipt)) == 3
    # a direct batch carrying another author's signature needs a relayer
    other = [registration(rid("d9"), chain.addr("patient2"))]
    chain.reverts(
        "doctor_a",
        reg(chain).registerBatch([args(other[0])], [chain.sig("doctor_b", other[0])]),
        "RecordRegistryUnauthorizedRelay",
    )


def test_register_batch_bounds_and_signature_count(chain: Chain) -> None:
    chain.reverts(
        "relayer", reg(chain).registerBatch([], []), "RecordRegistryInvalidBatch", length=0, max=64
    )
    assert reg(chain).MAX_BATCH().call() == 64
    many = [registration(rid(f"m{i}"), chain.addr("patient")) for i in range(65)]
    chain.reverts(
        "relayer",
        reg(chain).registerBatch([args(m) for m in many], [b""] * 65),
        "RecordRegistryInvalidBatch",
        length=65,
    )
    two = many[:2]
    chain.reverts(
        "relayer",
        reg(chain).registerBatch([args(m) for m in two], [chain.sig("doctor_a", two[0])]),
        "RecordRegistrySignatureCount",
        records=2,
        signatures=1,
    )


def test_register_batch_bad_author_in_the_middle(chain: Chain) -> None:
    batch = [registration(rid(label), chain.addr("patient")) for label in ("ok1", "ok2")]
    sigs = [chain.sig("doctor_a", batch[0]), chain.sig("auditor_a", batch[1])]
    chain.reverts(
        "relayer",
        reg(chain).registerBatch([args(m) for m in batch], sigs),
        "RecordRegistryNotAuthor",
        author=chain.addr("auditor_a"),
    )
    # a patient author is never cached as a clinician: patient for patient2's record fails
    p1 = registration(rid("p1"), chain.addr("patient"))
    p2 = registration(rid("p2"), chain.addr("patient2"))
    chain.reverts(
        "relayer",
        reg(chain).registerBatch([args(p1), args(p2)], [chain.sig("patient", m) for m in (p1, p2)]),
        "RecordRegistryNotAuthor",
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


def record_slot(record_id: bytes) -> int:
    # `_records` is the registry's first storage variable (slot 0): mapping slot = keccak(id ‖ 0)
    return int.from_bytes(keccak(record_id + (0).to_bytes(32, "big")), "big")


def test_a_record_is_exactly_one_packed_slot(chain: Chain) -> None:
    record_id = register(chain, "layout")
    address = chain.c["RecordRegistry"].address
    slot = record_slot(record_id)
    word = int.from_bytes(chain.w3.eth.get_storage_at(address, slot), "big")
    patient, inst, version, status, at = reg(chain).recordOf(record_id).call()
    assert word & (2**160 - 1) == int(patient, 16)
    assert (word >> 160) & (2**32 - 1) == inst == 1
    assert (word >> 192) & (2**40 - 1) == at
    assert (word >> 232) & 0xFFFF == version == 1
    assert word >> 248 == status == ACTIVE
    assert chain.w3.eth.get_storage_at(address, slot + 1) == b"\x00" * 32
