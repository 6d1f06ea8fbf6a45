"""Gas budgets of the hot paths, measured from receipts (a regression fails here first).

Targets from the issue: register one record ≤ 75,000; ≤ 50,000 per record in a batch of 50;
relayed consent ≤ 70,000; one access log ≤ 30,000; ≤ 5,000 per entry in a batch of 50.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from crypto.signing import Consent, Domain, Purpose, Revocation, consent_id, sign
from tests.contracts.helpers import Chain, record_input, rid


def test_register_one_record_direct_and_relayed(chain: Chain) -> None:
    reg = chain.c["RecordRegistry"].functions
    doctor = chain.addr("doctor_a")
    direct = chain.send(
        "doctor_a", reg.register(record_input(rid("g1"), chain.addr("patient"), doctor))
    )
    relayed = chain.send(
        "relayer", reg.register(record_input(rid("g2"), chain.addr("patient2"), doctor))
    )
    print("register direct", direct["gasUsed"], "relayed", relayed["gasUsed"])
    assert direct["gasUsed"] <= 75_000
    assert relayed["gasUsed"] <= 75_000


def test_register_batch_of_50(chain: Chain) -> None:
    reg = chain.c["RecordRegistry"].functions
    batch = [
        record_input(rid(f"b{i}"), to_checksum_address(f"0x{i + 1:040x}"), chain.addr("doctor_a"))
        for i in range(50)
    ]
    receipt = chain.send("relayer", reg.registerBatch(batch))
    print("batch per record", receipt["gasUsed"] / 50)
    assert receipt["gasUsed"] / 50 <= 50_000


def test_relayed_consent(chain: Chain) -> None:
    cm = chain.c["ConsentManager"]
    domain = Domain(chain_id=chain.w3.eth.chain_id, verifying_contract=cm.address)
    consent = Consent(
        patient=chain.addr("patient"),
        grantee=chain.addr("doctor_b"),
        purpose=Purpose.REFERRAL,
        expires_at=chain.now() + 86_400,
        nonce=1,
    )
    sig = sign(domain, consent, chain.accounts["patient"].key)
    args = tuple(consent.message().values())
    receipt = chain.send("relayer", cm.functions.grantBySig(args, sig))
    print("consent", receipt["gasUsed"])
    assert receipt["gasUsed"] <= 70_000


def test_access_log_one_and_batch(chain: Chain) -> None:
    log = chain.c["AccessLog"].functions
    one = chain.send("relayer", log.logAccess(rid("x"), chain.addr("doctor_b"), 1, True, 0))
    batch = [(rid(f"x{i}"), chain.addr("doctor_b"), 1, i % 3 != 0, i) for i in range(50)]
    many = chain.send("relayer", log.logAccessBatch(batch))
    print("log one", one["gasUsed"], "batch per entry", many["gasUsed"] / 50)
    assert one["gasUsed"] <= 30_000
    assert many["gasUsed"] / 50 <= 5_000


def test_relayed_revocation_stays_small(chain: Chain) -> None:
    """No target in the issue; the bound only catches a regression (measured ~40k)."""
    cm = chain.c["ConsentManager"]
    domain = Domain(chain_id=chain.w3.eth.chain_id, verifying_contract=cm.address)
    consent = Consent(
        patient=chain.addr("patient"),
        grantee=chain.addr("doctor_b"),
        expires_at=chain.now() + 86_400,
        nonce=1,
    )
    key = chain.accounts["patient"].key
    args = tuple(consent.message().values())
    chain.send("relayer", cm.functions.grantBySig(args, sign(domain, consent, key)))
    rev = Revocation(
        patient=consent.patient, consent_id=consent_id(consent), nonce=2, deadline=chain.now() + 60
    )
    receipt = chain.send(
        "relayer", cm.functions.revokeBySig(args, 2, rev.deadline, sign(domain, rev, key))
    )
    print("revoke", receipt["gasUsed"])
    assert receipt["gasUsed"] <= 45_000
