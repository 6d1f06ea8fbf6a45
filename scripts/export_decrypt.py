#!/usr/bin/env python3
"""Export Python-made keys, ciphertexts, sealed boxes and envelopes for the in-page decryption.

The web apps decrypt in the page (``clients/webwallet/src/crypto/``: FAME with mcl-wasm, the
sealed user key, the envelope), so what Python makes must open in JavaScript. This script
writes ``clients/webwallet/test/fixtures/decrypt.json``, which the vitest suite
(``test/decrypt.test.js``) opens:

- ``fame``: user-key files and FAME ciphertexts (CBOR, hex) under several policies
  (and/or, thresholds, repeated attributes) with the GT element each one carries, and a key
  whose attributes do not satisfy the policy;
- ``probes``: byte strings that must be refused (a G1 and a G2 point outside the subgroup, a
  cyclotomic Fp12 element outside GT: :mod:`crypto.groups_native`'s probes);
- ``sealed``: a user key sealed to an X25519 key (:func:`crypto.keys.seal_user_key`) with the
  private key that opens it;
- ``envelope``: a v2 record (header, body, plaintext, binding, author) and the user key that
  opens it.

Encryption draws fresh randomness, so the file is not reproducible byte for byte. ``--check``
therefore does not compare bytes: it opens every committed fixture with today's Python (parse,
decrypt, unseal) and exits 1 when one no longer opens — the sign that a format moved and the
fixtures must be exported again (``tests/wallet/test_export_decrypt.py`` runs it).

Usage: ``python scripts/export_decrypt.py [--check]``
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import cbor2
from eth_account import Account
from generated_files import ROOT, render

from crypto import envelope, fame, groups, keys
from crypto.fame_types import Ciphertext
from crypto.groups_native import CYCLOTOMIC_NOT_GT, OFF_SUBGROUP_G1, OFF_SUBGROUP_G2

FIXTURES = ROOT / "clients" / "webwallet" / "test" / "fixtures" / "decrypt.json"
PATIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
RECORD_ID = bytes(range(32))
# (policy, attributes of a key that satisfies it, attributes of one that does not)
CASES = [
    ("org:cd3h", ["org:cd3h"], ["org:pjxrmyy"]),
    (
        "role:doctor and (org:cd3h or dept:cardiology)",
        ["role:doctor", "dept:cardiology", "epoch:1"],
        ["role:doctor", "role:nurse"],
    ),
    (
        "2 of (a:x, 2 of (b:y, c:z, d:w), e:v and f:u)",
        ["b:y", "d:w", "e:v", "f:u"],
        ["a:x", "b:y", "e:v"],
    ),
    ("org:cd3h or org:cd3h or (org:cd3h and role:doctor)", ["org:cd3h"], ["role:doctor"]),
    ("3 of (a:1, b:2, c:3, d:4, e:5)", ["a:1", "c:3", "e:5", "d:4"], ["a:1", "b:2"]),
]
PLAINTEXT = json.dumps(
    {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Heart rate"},
        "valueQuantity": {"value": 72, "unit": "beats/minute"},
        "effectiveDateTime": "2026-03-01T08:30:00+08:00",
    },
    sort_keys=True,
).encode()


def _key_hex(user_key: fame.UserKey) -> str:
    return keys.dump_user_key(user_key).hex()


def fixtures() -> dict[str, Any]:
    """Fresh keys and ciphertexts (the file's content; see the module docstring)."""
    mpk, msk = fame.setup()
    fame_cases = []
    for policy, good, bad in CASES:
        ciphertext, element = fame.encrypt(mpk, policy)
        fame_cases.append(
            {
                "policy": policy,
                "ciphertext": cbor2.dumps(ciphertext.to_obj(), canonical=True).hex(),
                "element": groups.gt_to_bytes(element).hex(),
                "key": _key_hex(fame.keygen(msk, good)),
                "deniedKey": _key_hex(fame.keygen(msk, bad)),
            }
        )
    pair = keys.generate_x25519_keypair()
    sealed_key = fame.keygen(msk, ["org:cd3h", "role:doctor"])
    author = Account.create()
    binding = envelope.RecordBinding(record_id=RECORD_ID, patient=PATIENT)
    record, body = envelope.encrypt_bytes(
        PLAINTEXT,
        mpk=mpk,
        policy="org:cd3h and role:doctor",
        content_type="application/fhir+json",
        segment_size=256,
        binding=binding,
        sealer=envelope.AccountSealer(author),
    )
    institutions = []
    for inst_id, code in ((1, "cd3h"), (2, "pjxrmyy")):
        inst_mpk, inst_msk = fame.setup()
        institutions.append(
            {
                "id": inst_id,
                "code": code,
                "epoch": 1,
                "mpk": keys.dump_master_public_key(inst_mpk).hex(),
                "doctorKey": _key_hex(
                    fame.keygen(
                        inst_msk, [f"org:{code}", "role:doctor", "dept:cardiology", "epoch:1"]
                    )
                ),
                "nurseKey": _key_hex(
                    fame.keygen(inst_msk, [f"org:{code}", "role:nurse", "epoch:1"])
                ),
            }
        )
    patient = Account.from_key(bytes(range(1, 33)))
    return {
        "institutions": institutions,
        "patientAccount": {"address": patient.address, "privateKey": patient.key.hex()},
        "mpk": keys.dump_master_public_key(mpk).hex(),
        "fame": fame_cases,
        "probes": {
            "g1": OFF_SUBGROUP_G1.hex(),
            "g2": OFF_SUBGROUP_G2.hex(),
            "gt": CYCLOTOMIC_NOT_GT.hex(),
        },
        "sealed": {
            "privateKey": pair.private_key.hex(),
            "publicKey": pair.public_key.hex(),
            "box": keys.seal_user_key(sealed_key, pair.public_key).hex(),
            "attributes": sorted(sealed_key.attributes),
            "purpose": keys.PURPOSE_USER_KEY,
        },
        "envelope": {
            "header": record.header_bytes.hex(),
            "body": body.hex(),
            "bodySha256": (record.body_sha256 or b"").hex(),
            "plaintext": PLAINTEXT.hex(),
            "recordId": "0x" + RECORD_ID.hex(),
            "patient": PATIENT,
            "author": author.address,
            "key": _key_hex(sealed_key),
            "deniedKey": _key_hex(fame.keygen(msk, ["org:cd3h", "role:nurse"])),
        },
    }


def check(data: dict[str, Any]) -> list[str]:
    """What in the committed fixtures today's Python no longer opens (empty when all is well)."""
    problems = []
    for case in data["fame"]:
        ct = Ciphertext.from_obj(cbor2.loads(bytes.fromhex(case["ciphertext"])))
        element = fame.decrypt(keys.load_user_key(bytes.fromhex(case["key"])), ct)
        if groups.gt_to_bytes(element).hex() != case["element"]:
            problems.append(f"FAME case {case['policy']!r} decrypts to another element")
    sealed = data["sealed"]
    key = keys.open_user_key(bytes.fromhex(sealed["box"]), bytes.fromhex(sealed["privateKey"]))
    if sorted(key.attributes) != sealed["attributes"]:
        problems.append("the sealed user key holds other attributes")
    env = data["envelope"]
    binding = envelope.RecordBinding(
        record_id=bytes.fromhex(env["recordId"][2:]), patient=env["patient"]
    )
    plain = envelope.decrypt_bytes(
        bytes.fromhex(env["header"]),
        bytes.fromhex(env["body"]),
        user_key=keys.load_user_key(bytes.fromhex(env["key"])),
        binding=binding,
    )
    if plain.hex() != env["plaintext"]:
        problems.append("the envelope decrypts to another plaintext")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="open the committed fixtures; write nothing"
    )
    args = parser.parse_args(argv)
    if args.check:
        try:
            problems = check(json.loads(FIXTURES.read_text(encoding="utf-8")))
        except Exception as exc:  # any failure to open means the fixtures are stale
            problems = [f"{type(exc).__name__}: {exc}"]
        for problem in problems:
            print(f"stale {FIXTURES.relative_to(ROOT)}: {problem}", file=sys.stderr)
        if problems:
            print("run python scripts/export_decrypt.py", file=sys.stderr)
        return 1 if problems else 0
    FIXTURES.parent.mkdir(parents=True, exist_ok=True)
    FIXTURES.write_text(render(fixtures()), encoding="utf-8")
    print(f"wrote {FIXTURES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
