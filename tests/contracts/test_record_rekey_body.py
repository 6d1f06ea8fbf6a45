"""RecordRegistry.rekeyBody: a full re-encryption (new body, header, digest, policy) of a record.

The same managers as ``rekey`` (the patient, an active clinician of the author institution),
the same version counter, and a gas figure for the README.
"""

from __future__ import annotations

from eth_utils import keccak

from tests.contracts.helpers import Chain, b32, cid_for, record_input, rid

ACTIVE, SUPERSEDED, WITHDRAWN = 1, 2, 3


def reg(chain: Chain):
    return chain.c["RecordRegistry"].functions


def register(chain: Chain, label: str, *, by: str = "doctor_a") -> bytes:
    record_id = rid(label)
    chain.send(
        by, reg(chain).register(record_input(record_id, chain.addr("patient"), chain.addr(by)))
    )
    return record_id


def test_rekey_body_emits_new_body_and_bumps_the_version(chain: Chain) -> None:
    record_id = register(chain, "rb1")
    body, header, digest = cid_for("body 2"), cid_for("header 2"), keccak(text="body 2")
    receipt = chain.send(
        "relayer",
        reg(chain).rekeyBody(chain.addr("patient"), record_id, header, body, digest, b32("p2")),
    )
    ev = chain.one_event("RecordRegistry", "RecordBodyRekeyed", receipt)
    assert ev == {
        "id": record_id,
        "patient": chain.addr("patient"),
        "actor": chain.addr("patient"),
        "version": 2,
        "bodyCid": body,
        "headerCid": header,
        "bodyHash": digest,
        "policyHash": b32("p2"),
    }
    print("rekeyBody relayed gas", receipt["gasUsed"])
    assert receipt["gasUsed"] <= 50_000
    # header-only and full re-keys share one version counter
    receipt = chain.send(
        "doctor_a2",
        reg(chain).rekey(chain.addr("doctor_a2"), record_id, cid_for("header 3"), b32("p3")),
    )
    assert chain.one_event("RecordRegistry", "RecordRekeyed", receipt)["version"] == 3
    receipt = chain.send(
        "nurse_a",
        reg(chain).rekeyBody(
            chain.addr("nurse_a"), record_id, cid_for("h4"), cid_for("b4"), digest, b32("p4")
        ),
    )
    assert chain.one_event("RecordRegistry", "RecordBodyRekeyed", receipt)["version"] == 4
    assert reg(chain).recordOf(record_id).call()[2:4] == [4, ACTIVE]


def test_rekey_body_reverts_and_changes_nothing(chain: Chain) -> None:
    record_id = register(chain, "rb2")
    f = reg(chain)
    h, b, d = cid_for("h"), cid_for("b"), keccak(text="b")
    for who in ("doctor_b", "auditor_a", "patient2", "outsider"):
        actor = chain.addr(who)
        chain.reverts(
            who, f.rekeyBody(actor, record_id, h, b, d, b32("p")), "RecordRegistryUnauthorized"
        )
    chain.reverts(
        "doctor_b",
        f.rekeyBody(chain.addr("patient"), record_id, h, b, d, b32("p")),
        "RecordRegistryUnauthorizedRelay",
    )
    chain.reverts(
        "doctor_a",
        f.rekeyBody(chain.addr("doctor_a"), rid("none"), h, b, d, b32("p")),
        "RecordRegistryUnknownRecord",
    )
    for header, body, digest in (("", b, d), (h, "", d), (h, b, bytes(32))):
        chain.reverts(
            "doctor_a",
            f.rekeyBody(chain.addr("doctor_a"), record_id, header, body, digest, b32("p")),
            "RecordRegistryInvalidRecord",
            id=record_id,
        )
    chain.send("doctor_a", f.withdraw(chain.addr("doctor_a"), record_id, 1))
    chain.reverts(
        "doctor_a",
        f.rekeyBody(chain.addr("doctor_a"), record_id, h, b, d, b32("p")),
        "RecordRegistryNotActive",
        status=WITHDRAWN,
    )
    assert f.recordOf(record_id).call()[2] == 1  # no failed attempt bumped the version
