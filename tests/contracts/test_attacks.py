"""The issue's attacks, run against the contracts with the relayer key (or an admin's) the way
an attacker would, each refused by the chain itself.

1. attribute injection by an institution admin; 2. twenty racing break-glass openings with a
cap of three; 3. one co-signature reused, or valid for a year; 4. the relayer acting in
anyone's name (a withdrawal in the patient's name, a granted read for a random address, a
workflow step or an opening naming any doctor) — and relayers are rotatable.
The referral summary attack (6) is in ``test_workflow_referrals.py``.
"""

from __future__ import annotations

import os

from eth_account import Account
from eth_utils import keccak

from crypto.signing import (
    BreakGlassCosign,
    BreakGlassOpen,
    ReadRequest,
    RecordWithdraw,
    ReferralStep,
    recover,
)
from ledger_api.chain.access_log import AccessEntry, read_request_of
from ledger_api.chain.contract import Event
from tests.contracts.helpers import (
    FAR,
    FIXED_GAS,
    ROLE_DOCTOR,
    ROLE_RELAYER,
    Chain,
    args,
    b32,
    register,
    registration,
    rid,
)
from tests.contracts.workflow_calls import ACCEPT, refer, step

NOON = 1_893_499_200  # 2030-01-01 12:00 UTC


def test_1_admin_cannot_inject_identity_custodian_or_epoch_attributes(chain: Chain) -> None:
    con = chain.c["Consortium"].functions
    doctor = Account.create().address
    for attribute in ("org:cd3h", "custodian:cd3h", "epoch:99", "uid:0xabc", "bg:1"):
        chain.reverts(
            "inst_b_admin",
            con.enrolMember(doctor, 2, ROLE_DOCTOR, [b32("dept:er"), b32(attribute)]),
            "ConsortiumReservedAttribute",
            attribute=b32(attribute),
        )
    folded = "dept:ſurgery".encode().ljust(32, b"\x00")  # used to fold onto dept:surgery
    chain.reverts(
        "inst_b_admin",
        con.enrolMember(doctor, 2, ROLE_DOCTOR, [folded]),
        "ConsortiumInvalidAttribute",
    )
    chain.send("inst_b_admin", con.enrolMember(doctor, 2, ROLE_DOCTOR, [b32("dept:er")]))
    chain.reverts(
        "inst_b_admin",
        con.updateMember(doctor, ROLE_DOCTOR, [b32("org:cd3h")]),
        "ConsortiumReservedAttribute",
    )
    assert con.attributesOf(doctor).call() == [b32("dept:er")]


def _opening(chain: Chain, label: str) -> BreakGlassOpen:
    return BreakGlassOpen(
        id=keccak(text="race:" + label),
        patient=chain.addr("patient"),
        reason_hash=keccak(text="reason"),
        window=3600,
        deadline=FAR,
    )


def test_2_twenty_racing_openings_with_a_cap_of_three(chain: Chain) -> None:
    """All twenty are signed and in the pool before any is mined; the chain orders them and
    exactly three pass."""
    chain.mine(max(NOON, chain.now() + 1))
    ea = chain.c["EmergencyAccess"]
    relayer = chain.accounts["relayer"]
    w3 = chain.w3
    nonce = w3.eth.get_transaction_count(relayer.address)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        hashes = []
        for i in range(20):
            o = _opening(chain, str(i))
            call = ea.functions.openBreakGlass(args(o), chain.sig("doctor_a", o), 0, b"")
            tx = call.build_transaction(
                {
                    "from": relayer.address,
                    "nonce": nonce + i,
                    "gas": FIXED_GAS // 10,
                    "gasPrice": 0,
                    "chainId": w3.eth.chain_id,
                }
            )
            hashes.append(w3.eth.send_raw_transaction(relayer.sign_transaction(tx).raw_transaction))
        w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1  # truly concurrent: one block
    assert sum(r["status"] for r in receipts) == 3
    day = chain.now() // 86400
    assert ea.functions.openingsOn(chain.addr("doctor_a"), day).call() == 3


def test_3_a_cosignature_neither_lasts_a_year_nor_opens_twice(chain: Chain) -> None:
    ea = chain.c["EmergencyAccess"].functions
    chain.send("admin", ea.setDailyCap(0))
    first = _opening(chain, "cosigned")
    year = BreakGlassCosign(
        opening_id=first.id,
        clinician=chain.addr("doctor_a"),
        patient=first.patient,
        reason_hash=first.reason_hash,
        deadline=chain.now() + 365 * 86400,
    )
    opener = chain.sig("doctor_a", first)
    chain.reverts(
        "relayer",
        ea.openBreakGlass(args(first), opener, year.deadline, chain.sig("doctor_b", year)),
        "EmergencyAccessCosignatureTooLong",
    )
    hour = BreakGlassCosign(
        opening_id=first.id,
        clinician=chain.addr("doctor_a"),
        patient=first.patient,
        reason_hash=first.reason_hash,
        deadline=chain.now() + 600,
    )
    cosignature = chain.sig("doctor_b", hour)
    chain.send("relayer", ea.openBreakGlass(args(first), opener, hour.deadline, cosignature))
    for i in range(4):  # the same chart again, with the same co-signature
        again = _opening(chain, f"again{i}")
        chain.reverts(
            "relayer",
            ea.openBreakGlass(
                args(again), chain.sig("doctor_a", again), hour.deadline, cosignature
            ),
            "EmergencyAccessInvalidCosignature",
        )


def test_4_the_relayer_cannot_withdraw_in_the_patients_name(chain: Chain) -> None:
    record_id = register(chain, "victim")
    reg = chain.c["RecordRegistry"].functions
    m = RecordWithdraw(id=record_id, reason_code=1, deadline=FAR)
    for signature in (b"", chain.sig("relayer", m), chain.sig("outsider", m)):
        chain.reverts("relayer", reg.withdraw(args(m), signature), "RecordRegistryUnauthorized")
    # a signature the patient made for something else recovers a stranger
    other = RecordWithdraw(id=record_id, reason_code=2, deadline=FAR)
    chain.reverts(
        "relayer", reg.withdraw(args(m), chain.sig("patient", other)), "RecordRegistryUnauthorized"
    )
    assert reg.isActive(record_id).call() is True


def test_4_a_granted_read_needs_a_signature_and_a_forged_one_shows(chain: Chain) -> None:
    log = chain.c["AccessLog"].functions
    stranger = Account.create().address
    unsigned = AccessEntry(
        record_id=os.urandom(32), accessor=stranger, purpose=0, granted=False
    ).as_tuple()
    granted = list(unsigned)
    granted[2] = int(granted[2]) | 1 << 176  # flip `granted` in the packed word
    chain.reverts("relayer", log.logAccess(tuple(granted)), "AccessLogMalformedEntry", index=0)
    # the relayer can sign something itself, but it recovers to the relayer, not the accessor
    request = ReadRequest(record_id=os.urandom(32), part=1, purpose=0, issued_at=1, nonce=1)
    forged = AccessEntry.for_request(
        request, chain.sig("relayer", request), accessor=stranger, granted=True
    )
    receipt = chain.send("relayer", log.logAccess(forged.as_tuple()))
    event = chain.one_event("AccessLog", "AccessLogged", receipt)
    decoded = Event("AccessLogged", event, chain.c["AccessLog"].address, 0, "", 0)
    req, signature = read_request_of(decoded)
    assert recover(chain.domain("AccessLog"), req, signature) != stranger


def test_4_the_relayer_cannot_move_a_workflow_or_open_a_chart_for_a_doctor(chain: Chain) -> None:
    ref_id = refer(chain, "attack")
    for signer in (None, "relayer", "outsider"):
        chain.reverts("relayer", step(chain, ref_id, ACCEPT, signer), "WorkflowUnauthorized")
    stolen = ReferralStep(referral_id=ref_id, action=ACCEPT, deadline=FAR - 1)
    accept = ReferralStep(referral_id=ref_id, action=ACCEPT, deadline=FAR)
    wf = chain.c["Workflow"].functions
    chain.reverts(
        "relayer",
        wf.stepReferral(args(accept), chain.sig("doctor_b", stolen)),
        "WorkflowUnauthorized",
    )
    ea = chain.c["EmergencyAccess"].functions
    o = _opening(chain, "forged")
    for signature in (b"", chain.sig("relayer", o)):
        chain.reverts(
            "relayer", ea.openBreakGlass(args(o), signature, 0, b""), "EmergencyAccessUnauthorized"
        )


def test_4_relayers_are_rotatable_everywhere(chain: Chain) -> None:
    """A relayer enrolled in Consortium carries signed actions to every contract; once
    removed it is refused by every one at once."""
    con = chain.c["Consortium"].functions
    chain.send("admin", con.enrolMember(chain.addr("outsider"), 0, ROLE_RELAYER, []))
    first = register(chain, "via-second", via="outsider")
    assert chain.c["RecordRegistry"].functions.isActive(first).call()
    chain.send("admin", con.removeMember(chain.addr("outsider")))
    m = registration(rid("after-removal"), chain.addr("patient"))
    chain.reverts(
        "outsider",
        chain.c["RecordRegistry"].functions.register(args(m), chain.sig("doctor_a", m)),
        "RecordRegistryUnauthorizedRelay",
    )
    ref_id = refer(chain, "rot")
    chain.reverts("outsider", step(chain, ref_id, ACCEPT), "WorkflowUnauthorizedRelay")
    o = _opening(chain, "rot")
    chain.reverts(
        "outsider",
        chain.c["EmergencyAccess"].functions.openBreakGlass(
            args(o), chain.sig("doctor_a", o), 0, b""
        ),
        "EmergencyAccessUnauthorizedRelay",
    )
