"""The page's key request against a real institution authority process, and its decryption.

Real anvil, real contracts, real ``medledger authority serve`` processes (as
``tests/authority``). ``clients/webwallet/e2e/fetch_and_open.mjs`` runs the page's modules in
node: it reads the authority's public key and pins it to ``Consortium.authorityOf``'s digest,
signs an EIP-712 ``KeyRequest`` with the member's wallet, opens the key sealed to an X25519 key
it made, and decrypts a record Python encrypted (envelope v3) with the six-pairing FAME
decryption of mcl-wasm. A member of institution 1 reads its slot; their key is refused for
institution 2's slot; a pinned digest that is not the authority's key is refused; a member of
another institution gets no key.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from crypto.envelope import AccountSealer, AuthorityKey, RecordBinding, encrypt_bytes_v3
from crypto.keys import load_master_public_key
from crypto.patient_key import derive_from_account
from crypto.reach import Institution
from ledger_api.authority.keyfile import public_part
from ledger_api.chain.anvil import AnvilProcess
from tests.authority.support import init_authority, register
from tests.conftest import ANVIL_KEYS
from tests.contracts.helpers import Chain, build_world
from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "clients" / "webwallet" / "e2e" / "fetch_and_open.mjs"
PLAINTEXT = json.dumps({"resourceType": "Observation", "valueQuantity": {"value": 72}}).encode()


@pytest.fixture(scope="module")
def world(
    anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    chain: Chain = build_world(w3, ANVIL_KEYS)
    tmp = tmp_path_factory.mktemp("page-authorities")
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
        authorities[inst].start(rpc=anvil.url, deployment=deployment)
    pinned = []
    for inst, code in ((1, "cd3h"), (2, "pujiang")):
        _, mpk_bytes, _ = public_part(authorities[inst].key_file)
        digest = chain.c["Consortium"].functions.authorityOf(inst).call()[0]
        pinned.append(
            AuthorityKey(Institution(inst, code, 1), load_master_public_key(mpk_bytes), digest)
        )
    patient = chain.accounts["patient"]
    record_id = os.urandom(32)
    record, body = encrypt_bytes_v3(
        PLAINTEXT,
        authorities=pinned,
        policy="role:doctor",
        patient_public_key=derive_from_account(patient).public_key,
        binding=RecordBinding(record_id=record_id, patient=patient.address),
        sealer=AccountSealer(chain.accounts["doctor_a"]),
        content_type="application/fhir+json",
    )
    (tmp / "header.cbor").write_bytes(record.header_bytes)
    (tmp / "body.bin").write_bytes(body)
    yield {
        "chain": chain,
        "authorities": authorities,
        "pinned": {k.institution.id: k.digest for k in pinned},
        "tmp": tmp,
        "registration": {
            "recordId": "0x" + record_id.hex(),
            "patient": patient.address,
            "author": chain.accounts["doctor_a"].address,
            "bodySha256": "0x" + hashlib.sha256(body).hexdigest(),
        },
    }
    for authority in authorities.values():
        authority.stop()


def run_page(world: dict[str, Any], who: str, inst: int, **over: Any) -> dict[str, Any]:
    chain: Chain = world["chain"]
    tmp: Path = world["tmp"]
    job = {
        "authorityUrl": world["authorities"][inst].url,
        "pinnedDigest": "0x" + world["pinned"][inst].hex(),
        "memberKey": "0x" + bytes(chain.accounts[who].key).hex(),
        "institutionId": inst,
        "chainId": chain.w3.eth.chain_id,
        "consortium": chain.deployment.address("Consortium"),
        "header": str(tmp / "header.cbor"),
        "body": str(tmp / "body.bin"),
        "registration": world["registration"],
        **over,
    }
    path = tmp / f"job-{who}-{inst}.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    done = subprocess.run(
        ["node", str(SCRIPT), str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_page_gets_its_key_from_its_own_authority_and_reads_the_record(world) -> None:
    out = run_page(world, "doctor_a", 1)
    assert "error" not in out, out
    doctor = world["chain"].addr("doctor_a").lower()
    assert out["attributes"] == sorted(
        ["dept:cardio", "title:attending", "role:doctor", "org:cd3h", f"uid:{doctor}", "epoch:1"]
    )
    assert bytes.fromhex(out["plaintext"]) == PLAINTEXT
    assert out["author"] == world["chain"].accounts["doctor_a"].address
    other = run_page(world, "doctor_b", 2)
    assert bytes.fromhex(other["plaintext"]) == PLAINTEXT


def test_page_refuses_what_it_must(world) -> None:
    wrong_slot = run_page(world, "doctor_a", 1, readAs=2)
    assert wrong_slot["error"] == "EnvelopeIntegrityError", wrong_slot
    unpinned = run_page(world, "doctor_a", 1, pinnedDigest="0x" + "11" * 32)
    assert unpinned["error"] == "EnvelopeIntegrityError"
    assert "not to the digest on chain" in unpinned["message"]
    outsider = run_page(world, "doctor_b", 1)
    assert outsider["error"] == "CryptoError", outsider
    assert outsider["code"] != "http_error", outsider  # the authority's own refusal code
    assert "attributes" not in outsider
