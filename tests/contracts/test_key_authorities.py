"""Consortium key authorities (issue 16): registration by the institution's admin only, the
per-institution epochs a membership change moves, issuance logs, and patient keys on chain."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.contracts.helpers import Chain, b32, same

DIGEST = bytes(range(32))
URL = "http://127.0.0.1:9101"


def _register(
    chain: Chain, who: str, inst: int, signer: str, *, digest: bytes = DIGEST, url: str = URL
):
    f = chain.c["Consortium"].functions
    return f.registerAuthority(inst, digest, signer, url)


def test_institution_admin_registers_its_authority(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    signer = Account.create().address
    assert f.authorityOf(1).call() == [bytes(32), "", 1, "0x" + "0" * 40, 1]
    receipt = chain.send("inst_a_admin", _register(chain, "inst_a_admin", 1, signer))
    ev = chain.one_event("Consortium", "AuthorityRegistered", receipt)
    assert ev["institutionId"] == 1
    assert ev["pubkeyDigest"] == DIGEST
    assert same(ev["signer"], signer)
    assert ev["url"] == URL
    assert ev["epoch"] == 1
    digest, url, epoch, got_signer, floor = f.authorityOf(1).call()
    assert (digest, url, epoch, floor) == (DIGEST, URL, 1, 1)
    assert same(got_signer, signer)
    assert f.institutionOfAuthority(signer).call() == 1


@pytest.mark.parametrize("who", ["inst_b_admin", "admin", "doctor_a", "relayer", "outsider"])
def test_rogue_admin_cannot_register_another_institutions_authority(chain: Chain, who: str) -> None:
    signer = Account.create().address
    chain.reverts(who, _register(chain, who, 1, signer), "ConsortiumUnauthorized")
    assert chain.c["Consortium"].functions.authorityOf(1).call()[0] == bytes(32)


def test_register_authority_reverts(chain: Chain) -> None:
    signer = Account.create().address
    call = lambda **kw: _register(chain, "inst_a_admin", 1, kw.pop("signer", signer), **kw)  # noqa: E731
    chain.reverts("inst_a_admin", call(digest=bytes(32)), "ConsortiumInvalidAuthority")
    chain.reverts("inst_a_admin", call(url=""), "ConsortiumInvalidAuthority")
    chain.reverts("inst_a_admin", call(url="h" * 257), "ConsortiumInvalidAuthority")
    chain.reverts("inst_a_admin", call(signer="0x" + "0" * 40), "ConsortiumInvalidAuthority")
    chain.reverts("inst_a_admin", _register(chain, "x", 99, signer), "ConsortiumUnknownInstitution")
    chain.send("inst_b_admin", _register(chain, "inst_b_admin", 2, signer))
    chain.reverts(
        "inst_a_admin", call(), "ConsortiumAuthoritySignerInUse", signer=signer, institutionId=2
    )


def test_replacing_an_authority_frees_the_old_signer_and_keeps_the_epoch(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    old, new = Account.create().address, Account.create().address
    chain.send("inst_a_admin", _register(chain, "inst_a_admin", 1, old))
    chain.send("inst_a_admin", f.suspendMember(chain.addr("nurse_a")))
    chain.send("inst_a_admin", _register(chain, "inst_a_admin", 1, new, digest=b"\x01" * 32))
    assert f.authorityOf(1).call()[2] == 2
    assert f.institutionOfAuthority(old).call() == 0
    assert f.institutionOfAuthority(new).call() == 1


def test_membership_change_moves_only_its_institutions_epoch(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    epochs = lambda: (f.authorityOf(1).call()[2], f.authorityOf(2).call()[2])  # noqa: E731
    assert epochs() == (1, 1)
    receipt = chain.send("inst_a_admin", f.suspendMember(chain.addr("doctor_a")))
    ev = chain.one_event("Consortium", "EpochAdvanced", receipt)
    assert ev["institutionId"] == 1
    assert ev["epoch"] == 2
    assert same(ev["reason"], chain.addr("doctor_a"))
    assert epochs() == (2, 1)
    chain.send("inst_a_admin", f.updateMember(chain.addr("nurse_a"), 2, [b32("dept:icu")]))
    assert epochs() == (3, 1)
    chain.send("inst_b_admin", f.removeMember(chain.addr("doctor_b")))
    assert epochs() == (3, 2)
    receipt = chain.send("admin", f.suspendInstitution(2))
    ev = chain.one_event("Consortium", "EpochAdvanced", receipt)
    assert ev["institutionId"] == 2
    assert ev["epoch"] == 3
    assert epochs() == (3, 3)
    # Reinstating adds nobody's attributes: no epoch move.
    chain.send("admin", f.reinstateInstitution(2))
    assert epochs() == (3, 3)


def test_epoch_floor(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    chain.send("inst_a_admin", f.suspendMember(chain.addr("doctor_a")))
    chain.send("inst_a_admin", f.suspendMember(chain.addr("nurse_a")))
    assert f.authorityOf(1).call()[2:][0] == 3
    chain.reverts("inst_b_admin", f.raiseEpochFloor(1, 2), "ConsortiumUnauthorized")
    chain.reverts("inst_a_admin", f.raiseEpochFloor(1, 4), "ConsortiumInvalidEpochFloor")
    chain.reverts("inst_a_admin", f.raiseEpochFloor(1, 1), "ConsortiumInvalidEpochFloor")
    receipt = chain.send("inst_a_admin", f.raiseEpochFloor(1, 3))
    assert chain.one_event("Consortium", "EpochFloorRaised", receipt)["floor"] == 3
    assert f.authorityOf(1).call()[4] == 3
    chain.reverts("inst_a_admin", f.raiseEpochFloor(1, 2), "ConsortiumInvalidEpochFloor")


def test_only_a_registered_authority_logs_issuance(chain: Chain) -> None:
    f = chain.c["Consortium"].functions
    signer = Account.create()
    chain.send("inst_b_admin", _register(chain, "inst_b_admin", 2, signer.address))
    holder = chain.addr("doctor_b")
    receipt = chain.send(signer, f.logKeyIssued(holder, b"\x07" * 32, 1))
    ev = chain.one_event("Consortium", "KeyIssued", receipt)
    assert ev["institutionId"] == 2
    assert same(ev["holder"], holder)
    assert same(ev["issuer"], signer.address)
    assert ev["epoch"] == 1
    for who in ("relayer", "inst_b_admin", "key_authority", "outsider"):
        chain.reverts(who, f.logKeyIssued(holder, b"\x07" * 32, 1), "ConsortiumNotAuthority")
    chain.reverts(signer, f.logKeyIssued("0x" + "0" * 40, b"\x07" * 32, 1), "ConsortiumZeroAddress")


# -- patient keys --------------------------------------------------------------------------


def _patient_key_sig(chain: Chain, account, public_key: bytes, version: int) -> bytes:
    cm = chain.c["ConsentManager"]
    data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "PatientKey": [
                {"name": "patient", "type": "address"},
                {"name": "publicKey", "type": "bytes32"},
                {"name": "version", "type": "uint64"},
            ],
        },
        "primaryType": "PatientKey",
        "domain": {
            "name": "MedLedger ConsentManager",
            "version": "1",
            "chainId": chain.w3.eth.chain_id,
            "verifyingContract": cm.address,
        },
        "message": {"patient": account.address, "publicKey": public_key, "version": version},
    }
    return bytes(account.sign_message(encode_typed_data(full_message=data)).signature)


def test_patient_registers_x25519_key_by_signature(chain: Chain) -> None:
    f = chain.c["ConsentManager"].functions
    patient = chain.accounts["patient"]
    key = b"\x42" * 32
    sig = _patient_key_sig(chain, patient, key, 1)
    receipt = chain.send("relayer", f.registerPatientKey(patient.address, key, 1, sig))
    ev = chain.one_event("ConsentManager", "PatientKeyRegistered", receipt)
    assert same(ev["patient"], patient.address)
    assert ev["publicKey"] == key
    assert ev["version"] == 1
    assert f.patientKeyOf(patient.address).call() == [key, 1]
    # Replay of the same registration, and an older one, are refused.
    chain.reverts(
        "relayer",
        f.registerPatientKey(patient.address, key, 1, sig),
        "ConsentManagerStalePatientKey",
    )
    # Someone else's signature, or a signature over another key, is refused.
    other = _patient_key_sig(chain, chain.accounts["outsider"], key, 2)
    chain.reverts(
        "relayer", f.registerPatientKey(patient.address, key, 2, other), "ConsentManagerWrongSigner"
    )
    forged = _patient_key_sig(chain, patient, b"\x43" * 32, 2)
    chain.reverts(
        "relayer",
        f.registerPatientKey(patient.address, key, 2, forged),
        "ConsentManagerWrongSigner",
    )
    chain.reverts(
        "relayer",
        f.registerPatientKey(patient.address, bytes(32), 2, sig),
        "ConsentManagerInvalidPatientKey",
    )
    chain.reverts(
        "relayer",
        f.registerPatientKey(patient.address, key, 2, b"\x00" * 64),
        "ConsentManagerInvalidSignature",
    )
    new_key = b"\x44" * 32
    chain.send(
        "outsider",
        f.registerPatientKey(
            patient.address, new_key, 5, _patient_key_sig(chain, patient, new_key, 5)
        ),
    )
    assert f.patientKeyOf(patient.address).call() == [new_key, 5]
