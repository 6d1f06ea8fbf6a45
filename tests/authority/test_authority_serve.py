"""Property 2 of issue 16: one key authority per institution, each its own process.

Real anvil, real contracts, real ``medledger authority init|register|serve`` processes. An
authority issues keys only to its own active members, for what Consortium holds, sealed to the
member's X25519 key, each issuance logged on chain under its own account; a member of another
institution, a suspended member, a replayed or forged request are refused; a rogue admin cannot
register another institution's authority; an authority whose key is not the one on chain
issues nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from crypto.envelope import (
    AccountSealer,
    AuthorityKey,
    RecordBinding,
    decrypt_bytes_v3,
    encrypt_bytes_v3,
)
from crypto.errors import EnvelopeIntegrityError
from crypto.keys import load_master_public_key
from crypto.patient_key import derive_from_account
from crypto.reach import Institution
from ledger_api.authority.keyfile import public_part
from ledger_api.chain.anvil import AnvilProcess
from tests.authority.support import (
    AuthorityProcess,
    init_authority,
    open_key,
    register,
    request_key,
)
from tests.conftest import ANVIL_KEYS
from tests.contracts.helpers import Chain, build_world


@pytest.fixture(scope="module")
def world(
    anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    chain: Chain = build_world(w3, ANVIL_KEYS)
    tmp = tmp_path_factory.mktemp("authorities")
    deployment = tmp / "deployment.json"
    chain.deployment.save(deployment)
    authorities = {i: init_authority(tmp, i) for i in (1, 2)}
    for inst, admin in ((1, "inst_a_admin"), (2, "inst_b_admin")):
        done = register(
            authorities[inst],
            admin_key=chain.accounts[admin].key.hex(),
            rpc=anvil.url,
            deployment=deployment,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        authorities[inst].start(rpc=anvil.url, deployment=deployment, rate="5/minute")
    yield {
        "chain": chain,
        "authorities": authorities,
        "rpc": anvil.url,
        "deployment": deployment,
        "tmp": tmp,
    }
    for authority in authorities.values():
        authority.stop()


def _ask(world: dict[str, Any], who: str, inst: int, **kw: Any):
    chain: Chain = world["chain"]
    return request_key(
        world["authorities"][inst].url,
        chain.accounts[who],
        institution=inst,
        chain_id=chain.w3.eth.chain_id,
        consortium=chain.deployment.address("Consortium"),
        **kw,
    )


def test_member_gets_key_of_consortium_attributes_logged_on_chain(world) -> None:
    chain: Chain = world["chain"]
    response, private, _ = _ask(world, "doctor_a", 1)
    assert response.status_code == 200, response.text
    body = response.json()
    doctor = chain.addr("doctor_a").lower()
    assert body["attributes"] == sorted(
        ["dept:cardio", "title:attending", "role:doctor", "org:cd3h", f"uid:{doctor}", "epoch:1"]
    )
    assert body["institution"] == 1
    key = open_key(response, private)
    assert key.attributes >= {"org:cd3h", "role:doctor"}
    receipt = chain.w3.eth.get_transaction_receipt(body["txHash"])
    event = chain.one_event("Consortium", "KeyIssued", receipt)
    assert event["institutionId"] == 1
    assert event["holder"].lower() == doctor
    _, _, signer = public_part(world["authorities"][1].key_file)
    assert event["issuer"].lower() == signer.lower()
    assert "0x" + event["attributesHash"].hex() == body["attributesHash"]


def test_issued_key_opens_own_institutions_slot_only(world) -> None:
    chain: Chain = world["chain"]
    pinned = []
    for inst, code in ((1, "cd3h"), (2, "pujiang")):
        _, mpk_bytes, _ = public_part(world["authorities"][inst].key_file)
        digest = chain.c["Consortium"].functions.authorityOf(inst).call()[0]
        pinned.append(
            AuthorityKey(Institution(inst, code, 1), load_master_public_key(mpk_bytes), digest)
        )
    patient = chain.accounts["patient"]
    record, body = encrypt_bytes_v3(
        b"ECG: sinus rhythm",
        authorities=pinned,
        policy="role:doctor",
        patient_public_key=derive_from_account(patient).public_key,
        binding=RecordBinding(record_id=os.urandom(32), patient=patient.address),
        sealer=AccountSealer(chain.accounts["doctor_a"]),
    )
    response, private, _ = _ask(world, "doctor_a", 1)
    key_a = open_key(response, private)
    assert decrypt_bytes_v3(record.header_bytes, body, user_key=key_a, institution_id=1)
    response, private, _ = _ask(world, "doctor_b", 2)
    key_b = open_key(response, private)
    assert decrypt_bytes_v3(record.header_bytes, body, user_key=key_b, institution_id=2)
    with pytest.raises(EnvelopeIntegrityError, match="another institution's authority"):
        decrypt_bytes_v3(record.header_bytes, body, user_key=key_a, institution_id=2)


def test_authority_refuses_member_of_another_institution(world) -> None:
    response, _, _ = _ask(
        world,
        "doctor_b",
        1,
    )
    # doctor_b signs a request for institution 1 at institution 1's authority.
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"
    for outsider in ("patient", "outsider", "relayer", "key_authority"):
        response, _, _ = _ask(world, outsider, 1)
        assert response.status_code == 403, outsider
        assert response.json()["code"] == "not_a_member"


def test_request_for_another_institution_is_refused(world) -> None:
    chain: Chain = world["chain"]
    from tests.authority.support import request_key as raw

    response, _, _ = raw(
        world["authorities"][1].url,
        chain.accounts["doctor_b"],
        institution=2,
        chain_id=chain.w3.eth.chain_id,
        consortium=chain.deployment.address("Consortium"),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_institution"


def test_forged_replayed_and_stale_requests_are_refused(world) -> None:
    chain: Chain = world["chain"]
    response, _, _ = _ask(world, "nurse_a", 1, signer=chain.accounts["doctor_b"])
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    response, _, body = _ask(world, "nurse_a", 1)
    assert response.status_code == 200
    import httpx

    again = httpx.post(world["authorities"][1].url + "/keys", json=body, timeout=30)
    assert again.status_code == 401
    assert again.json()["code"] == "request_replayed"
    response, _, _ = _ask(world, "nurse_a", 1, issued_at=int(time.time()) - 3600)
    assert response.json()["code"] == "request_expired"
    # A different recipient key under the same signature: the signature no longer matches.
    tampered = {
        **body,
        "request": {
            **body["request"],
            "recipientKey": "0x" + "11" * 32,
            "nonce": body["request"]["nonce"] + 1,
        },
    }
    again = httpx.post(world["authorities"][1].url + "/keys", json=tampered, timeout=30)
    assert again.status_code == 401
    for junk in ({}, {"request": {}, "signature": "0x00"}, {"extra": 1}):
        assert httpx.post(world["authorities"][1].url + "/keys", json=junk).status_code == 422
    big = httpx.post(world["authorities"][1].url + "/keys", content=b"{" + b" " * 5000 + b"}")
    assert big.status_code == 413


def test_institution_admin_gets_custodian_key(world) -> None:
    response, _, _ = _ask(world, "inst_a_admin", 1)
    assert response.status_code == 200, response.text
    assert "custodian:cd3h" in response.json()["attributes"]
    assert not any(a.startswith("role:") for a in response.json()["attributes"])


def test_rate_limit_per_member(world) -> None:
    codes = [_ask(world, "auditor_a", 1)[0].status_code for _ in range(7)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429, 429]


def test_rogue_admin_cannot_register_another_institutions_authority(world) -> None:
    chain: Chain = world["chain"]
    rogue = init_authority(world["tmp"], 1, "-rogue")
    done = register(
        rogue,
        admin_key=chain.accounts["inst_b_admin"].key.hex(),
        rpc=world["rpc"],
        deployment=world["deployment"],
    )
    assert done.returncode != 0
    assert "may not" in (done.stderr + done.stdout)
    _, mpk, _ = public_part(world["authorities"][1].key_file)
    import hashlib

    assert chain.c["Consortium"].functions.authorityOf(1).call()[0] == hashlib.sha256(mpk).digest()


def test_unregistered_authority_issues_nothing(world) -> None:
    """A second key file for institution 2, served but never registered: refuses (503)."""
    chain: Chain = world["chain"]
    stray: AuthorityProcess = init_authority(world["tmp"], 2, "-stray")
    stray.start(rpc=world["rpc"], deployment=world["deployment"])
    try:
        response, _, _ = request_key(
            stray.url,
            chain.accounts["doctor_b"],
            institution=2,
            chain_id=chain.w3.eth.chain_id,
            consortium=chain.deployment.address("Consortium"),
        )
        assert response.status_code == 503
        assert response.json()["code"] == "authority_not_registered"
    finally:
        stray.stop()


def test_suspended_member_is_refused_and_epoch_moves_for_its_institution_only(world) -> None:
    chain: Chain = world["chain"]
    con = chain.c["Consortium"].functions
    before = (con.authorityOf(1).call()[2], con.authorityOf(2).call()[2])
    chain.send("inst_a_admin", con.suspendMember(chain.addr("doctor_a2")))
    response, _, _ = _ask(world, "doctor_a2", 1)
    assert response.status_code == 403
    assert response.json()["code"] == "member_suspended"
    after = (con.authorityOf(1).call()[2], con.authorityOf(2).call()[2])
    assert after == (before[0] + 1, before[1])
    response, _, _ = _ask(world, "doctor_b", 2)
    assert f"epoch:{after[0]}" not in response.json()["attributes"] or after[0] == after[1]
    response, _, _ = _ask(world, "nurse_a", 1)
    attrs = response.json()["attributes"]
    assert [a for a in attrs if a.startswith("epoch:")] == [
        f"epoch:{e}" for e in range(1, after[0] + 1)
    ]
    assert Path(world["authorities"][1].key_file).stat().st_mode & 0o077 == 0
