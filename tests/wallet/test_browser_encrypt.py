"""Envelopes made by the wallet's JavaScript (the modules the page loads, run with node)
are what Python accepts and decrypts.

``clients/webwallet/e2e/encrypt_envelope.mjs`` encrypts a file with ``src/envelope.js`` under a
policy and a master public key from a Python FAME setup; Python then parses the header with
the API's strict parser, checks the body's framing without a key, and decrypts with user keys:
a satisfying attribute set gets the original bytes back, a non-satisfying one is refused.
The script also signs the envelope's ``RecordRegistration`` as the page does before it uploads;
Python recomputes every field from the bytes (``storage.unixfs`` CIDs, the body's SHA-256,
``crypto.policy.policy_hash`` of the header's policy) and recovers the author with eth-account.
(This is the v2 envelope module, kept for reading old records; the page uploads envelope v3:
``test_webcrypto_v3.py`` and, in Chromium, ``test_browser_upload_v3.py``.)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from crypto import envelope, fame, keys
from crypto.errors import EnvelopeAccessDeniedError
from crypto.policy import normalize, policy_hash
from crypto.signing import EIP712_DOMAIN_TYPE
from storage.unixfs import compute_cid
from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "clients" / "webwallet" / "e2e" / "encrypt_envelope.mjs"
UPLOAD_FLOW = ROOT / "clients" / "webwallet" / "e2e" / "upload_flow.mjs"
PATIENT = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
AUTHOR = Account.create()
RECORD_ID = bytes(range(32))
BINDING = envelope.RecordBinding(record_id=RECORD_ID, patient=PATIENT)
UPLOAD_FILES = {"metadata": "metadata.json", "header": "header.cbor", "body": "body.bin"}
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # the script's GET /chain stand-in
# the RecordRegistration type as scripts/export_registration.py hashed it with eth-account
REGISTRATION_TYPES = json.loads(
    (ROOT / "clients/webwallet/test/fixtures/registration.json").read_text(encoding="utf-8")
)["types"]


def registration_signer(registration: dict[str, Any]) -> str:
    """The address that signed the page's registration (eth-account's EIP-712, not ethers)."""
    typed = {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, **REGISTRATION_TYPES},
        "primaryType": "RecordRegistration",
        "domain": registration["domain"],
        "message": registration["message"],
    }
    return Account.recover_message(
        encode_typed_data(full_message=typed), signature=registration["signature"]
    )


def check_registration(
    registration: dict[str, Any], header: envelope.Header, header_bytes: bytes, body: bytes
) -> None:
    """Every field of the signed registration is what Python computes from the bytes sent."""
    message = registration["message"]
    assert registration["domain"] == {
        "name": "MedLedger RecordRegistry",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": REGISTRY,
    }
    assert message["id"] == "0x" + RECORD_ID.hex()
    assert message["patient"] == BINDING.patient
    assert message["headerCid"] == str(compute_cid(header_bytes))
    assert message["bodyCid"] == str(compute_cid(body))
    assert message["bodyHash"] == "0x" + hashlib.sha256(body).hexdigest()
    assert message["policyHash"] == "0x" + policy_hash(header.policy).hex()
    assert message["recordType"] == "0x" + b"Observation".ljust(32, b"\0").hex()
    assert abs(message["deadline"] - (time.time() + 3600)) < 120
    assert len(bytes.fromhex(registration["signature"][2:])) == 65
    assert registration_signer(registration) == AUTHOR.address
    swapped = {**message, "headerCid": message["bodyCid"], "bodyCid": message["headerCid"]}
    assert registration_signer({**registration, "message": swapped}) != AUTHOR.address


@pytest.fixture(scope="module")
def authority() -> tuple[fame.MasterPublicKey, fame.MasterSecretKey]:
    return fame.setup()


def js_encrypt(
    tmp_path: Path,
    mpk: fame.MasterPublicKey,
    policy: str,
    plaintext: bytes,
    *,
    content_type: str = "application/fhir+json",
    segment_size: int | None = None,
) -> tuple[bytes, bytes, dict[str, object]]:
    (tmp_path / "mpk.cbor").write_bytes(keys.dump_master_public_key(mpk))
    (tmp_path / "plain").write_bytes(plaintext)
    args = ["node", str(SCRIPT), str(tmp_path / "mpk.cbor"), policy, content_type]
    args += [str(tmp_path / "plain"), str(tmp_path), "0x" + RECORD_ID.hex(), PATIENT]
    args += [AUTHOR.key.hex()]
    if segment_size is not None:
        args.append(str(segment_size))
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    return (tmp_path / "header.cbor").read_bytes(), (tmp_path / "body.bin").read_bytes(), info


@pytest.mark.parametrize(
    ("policy", "size", "segment_size", "opens", "refused"),
    [
        (
            f"(((dept:cardiology and org:CD3H)) and epoch:2) or uid:{PATIENT}"
            f" or (role:emergency and patient:{PATIENT} and bg:0)",
            300,
            None,
            [["org:cd3h", "dept:cardiology", "epoch:2"], [f"uid:{PATIENT}"]],
            [["org:cd3h", "dept:cardiology", "epoch:1"], ["role:emergency", f"patient:{PATIENT}"]],
        ),
        (
            "2 of (org:a, org:b, 2 of (x:1, x:2, x:3)) or (y:1 and y:1)",
            256 * 3 + 17,  # several segments and a short last one
            256,
            [["org:a", "x:1", "x:3"], ["y:1"], ["org:b", "org:a"]],
            [["org:a", "x:2"], ["x:1", "x:2", "x:3"]],
        ),
        ("org:cd3h", 0, None, [["org:cd3h"]], [["org:qyqchc"]]),  # the empty body
        ("org:cd3h", 512, 256, [["org:cd3h"]], []),  # exactly two full segments
        ("org:cd3h", 600_000, None, [["org:cd3h"]], []),  # a body of three 256 KiB leaves
    ],
)
def test_python_opens_what_the_browser_code_encrypts(
    tmp_path: Path,
    authority: tuple[fame.MasterPublicKey, fame.MasterSecretKey],
    policy: str,
    size: int,
    segment_size: int | None,
    opens: list[list[str]],
    refused: list[list[str]],
) -> None:
    mpk, msk = authority
    plaintext = os.urandom(size)
    header_bytes, body, info = js_encrypt(
        tmp_path, mpk, policy, plaintext, segment_size=segment_size
    )

    header = envelope.parse_header(header_bytes)  # strict: canonical CBOR, points in subgroup
    assert header.policy == normalize(policy)
    assert header.length == size
    assert header.content_type == "application/fhir+json"
    assert header.segment_size == (segment_size or envelope.DEFAULT_SEGMENT_SIZE)
    checked = envelope.validate_body_stream(io.BytesIO(body), header)
    assert checked.sha256 == hashlib.sha256(body).digest()
    registration = info.pop("registration")
    assert info == {"bodySha256": hashlib.sha256(body).hexdigest(), "bodyLength": len(body)}
    check_registration(registration, header, header_bytes, body)

    assert header.version == 2
    assert header.record_id == RECORD_ID
    assert header.patient_address == BINDING.patient
    for attributes in opens:
        key = fame.keygen(msk, attributes)
        assert envelope.decrypt_bytes(header_bytes, body, user_key=key, binding=BINDING) == (
            plaintext
        )
        opened = envelope.decrypt_stream(
            io.BytesIO(body), io.BytesIO(), header=header, user_key=key, binding=BINDING
        )
        assert opened.author == AUTHOR.address  # the page sealed it as the author
    for attributes in refused:
        key = fame.keygen(msk, attributes)
        with pytest.raises(EnvelopeAccessDeniedError):
            envelope.decrypt_bytes(header_bytes, body, user_key=key)


def test_each_envelope_has_fresh_keys(
    tmp_path: Path, authority: tuple[fame.MasterPublicKey, fame.MasterSecretKey]
) -> None:
    mpk, _ = authority
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        runs.append(js_encrypt(tmp_path / name, mpk, "org:x", b"same bytes"))
    one, two = (envelope.parse_header(header) for header, _, _ in runs)
    assert one.body_id != two.body_id
    assert one.salt != two.salt
    assert one.wrapped_key != two.wrapped_key
    assert one.abe.ct_0 != two.abe.ct_0
    assert runs[0][1] != runs[1][1]


OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
    "effectiveDateTime": "2026-11-20T09:15:00+08:00",
    "valueQuantity": {"value": 72, "unit": "beats/minute"},
}


def check_signed_upload(
    request_dir: Path, *, patient: str, chain_id: int, registry: str
) -> dict[str, Any]:
    """The form the page sent to POST /records carries the patient's signature over the
    registration of exactly the header and body it uploads (every field recomputed here)."""
    form = {name: (request_dir / file).read_bytes() for name, file in UPLOAD_FILES.items()}
    metadata = json.loads(form["metadata"])
    assert set(metadata) == {
        "record_id",
        "patient",
        "record_type",
        "record_date",
        "deadline",
        "signature",
    }
    assert to_checksum_address(metadata["patient"]) == patient
    assert isinstance(metadata["deadline"], int)
    assert abs(metadata["deadline"] - (time.time() + 3600)) < 300
    header = envelope.parse_header(form["header"])
    message = {
        "id": metadata["record_id"],
        "patient": patient,
        "bodyCid": str(compute_cid(form["body"])),
        "headerCid": str(compute_cid(form["header"])),
        "bodyHash": "0x" + hashlib.sha256(form["body"]).hexdigest(),
        "policyHash": "0x" + policy_hash(header.policy).hex(),
        "recordType": "0x" + metadata["record_type"].encode().ljust(32, b"\0").hex(),
        "deadline": metadata["deadline"],
    }
    domain = {
        "name": "MedLedger RecordRegistry",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": registry,
    }
    signed = {"domain": domain, "message": message, "signature": metadata["signature"]}
    assert len(bytes.fromhex(metadata["signature"].removeprefix("0x"))) == 65
    assert registration_signer(signed) == patient
    other = {**domain, "verifyingContract": other_address(registry)}
    assert registration_signer({**signed, "domain": other}) != patient
    return message


def other_address(address: str) -> str:
    """Another well-formed address (a registration signed for one registry is not another's)."""
    return Account.from_key(hashlib.sha256(address.encode()).digest()).address
