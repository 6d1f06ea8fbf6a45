"""Envelope v3 made by the page's JavaScript (``clients/webwallet/src/crypto``, run with node)
is what Python parses and decrypts: every slot of every reached institution opens with that
institution's member key, the patient slot with the key Python derives from the same wallet,
the author's seal names the author, and a key that does not satisfy the policy, a key of an
institution the policy does not reach and an altered header are refused. A public key whose
digest differs from the on-chain one is refused by the page before it encrypts anything.

(Python → page is the vitest suite: ``test/envelope3_python.test.js``.)
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from crypto import fame, keys, patient_key
from crypto.envelope import decrypt_bytes_v3, parse_header
from crypto.envelope.header_v3 import HeaderV3
from crypto.envelope.hybrid_v3 import authority_digest
from crypto.envelope.seal import RecordBinding
from crypto.errors import EnvelopeAccessDeniedError, EnvelopeError
from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "clients" / "webwallet" / "e2e" / "encrypt_envelope_v3.mjs"
RECORD_ID = bytes(range(32))
CODES = {1: "cd3h", 2: "pjxrmyy", 3: "qyqsq"}


@pytest.fixture(scope="module")
def authorities() -> dict[int, tuple[Any, Any]]:
    return {inst: fame.setup() for inst in CODES}


def run_page(
    tmp_path: Path,
    authorities: dict[int, tuple[Any, Any]],
    *,
    policy: str,
    plaintext: bytes,
    patient: Any,
    author: Any,
    digest_override: dict[int, str] | None = None,
) -> tuple[bytes, bytes, dict[str, Any]]:
    (tmp_path / "plain.bin").write_bytes(plaintext)
    institutions = []
    for inst, (mpk, _) in authorities.items():
        data = keys.dump_master_public_key(mpk)
        digest = (digest_override or {}).get(inst, "0x" + hashlib.sha256(data).hexdigest())
        institutions.append(
            {"id": inst, "code": CODES[inst], "epoch": inst, "mpk": data.hex(), "digest": digest}
        )
    job = {
        "institutions": institutions,
        "policy": policy,
        "contentType": "application/fhir+json",
        "plaintext": str(tmp_path / "plain.bin"),
        "recordId": "0x" + RECORD_ID.hex(),
        "patientKey": "0x" + bytes(patient.key).hex(),
        "authorKey": "0x" + bytes(author.key).hex(),
        "segmentSize": 256,
    }
    (tmp_path / "job.json").write_text(json.dumps(job), encoding="utf-8")
    done = subprocess.run(
        ["node", str(SCRIPT), str(tmp_path / "job.json"), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    info = json.loads(done.stdout)
    return (tmp_path / "header.cbor").read_bytes(), (tmp_path / "body.bin").read_bytes(), info


def member_key(authorities: dict[int, tuple[Any, Any]], inst: int, *attributes: str) -> Any:
    _, msk = authorities[inst]
    return fame.keygen(msk, [f"org:{CODES[inst]}", f"epoch:{inst}", *attributes])


def test_python_opens_every_slot_the_page_wrote(
    tmp_path: Path, authorities: dict[int, tuple[Any, Any]]
) -> None:
    patient, author = Account.create(), Account.create()
    plaintext = json.dumps({"resourceType": "Observation", "note": "x" * 1500}).encode()
    header, body, info = run_page(
        tmp_path,
        authorities,
        policy="role:doctor and dept:cardiology",
        plaintext=plaintext,
        patient=patient,
        author=author,
    )
    assert info["institutions"] == [1, 2, 3]
    assert hashlib.sha256(body).hexdigest() == info["bodySha256"]
    assert len(body) == info["bodyLength"]
    binding = RecordBinding(record_id=RECORD_ID, patient=patient.address)
    for inst in CODES:
        key = member_key(authorities, inst, "role:doctor", "dept:cardiology")
        plain = decrypt_bytes_v3(header, body, user_key=key, institution_id=inst, binding=binding)
        assert plain == plaintext
    own = patient_key.derive_from_account(patient)
    assert own.public_key.hex() == info["patientPublicKey"]
    assert decrypt_bytes_v3(header, body, patient_key=own, binding=binding) == plaintext
    parsed = parse_header(header)  # the API's strict parser accepts what the page made
    assert isinstance(parsed, HeaderV3)
    assert parsed.record_id == RECORD_ID
    assert parsed.patient_address == patient.address
    assert [(s.institution_id, s.org, s.epoch) for s in parsed.slots] == [
        (1, "cd3h", 1),
        (2, "pjxrmyy", 2),
        (3, "qyqsq", 3),
    ]
    assert [s.digest for s in parsed.slots] == [
        authority_digest(authorities[i][0]) for i in (1, 2, 3)
    ]


def test_python_refuses_readers_the_page_did_not_admit(
    tmp_path: Path, authorities: dict[int, tuple[Any, Any]]
) -> None:
    patient, author = Account.create(), Account.create()
    header, body, info = run_page(
        tmp_path,
        authorities,
        policy="org:cd3h and role:doctor",
        plaintext=b'{"resourceType":"Condition"}',
        patient=patient,
        author=author,
    )
    assert info["institutions"] == [1]
    nurse = member_key(authorities, 1, "role:nurse")
    with pytest.raises(EnvelopeAccessDeniedError):
        decrypt_bytes_v3(header, body, user_key=nurse, institution_id=1)
    doctor_elsewhere = member_key(authorities, 2, "role:doctor")
    with pytest.raises(EnvelopeAccessDeniedError):
        decrypt_bytes_v3(header, body, user_key=doctor_elsewhere, institution_id=2)
    stranger = patient_key.derive_from_account(Account.create())
    with pytest.raises(EnvelopeAccessDeniedError):
        decrypt_bytes_v3(header, body, patient_key=stranger)
    doctor = member_key(authorities, 1, "role:doctor")
    tampered = header.replace(b"application/fhir+json", b"application/fhir+jsoN")
    with pytest.raises(EnvelopeError):
        decrypt_bytes_v3(tampered, body, user_key=doctor, institution_id=1)


def test_the_page_refuses_a_public_key_that_is_not_the_one_on_chain(
    tmp_path: Path, authorities: dict[int, tuple[Any, Any]]
) -> None:
    with pytest.raises(RuntimeError, match="not to the digest on chain"):
        run_page(
            tmp_path,
            authorities,
            policy="org:cd3h",
            plaintext=b"{}",
            patient=Account.create(),
            author=Account.create(),
            digest_override={1: "0x" + "00" * 32},
        )
