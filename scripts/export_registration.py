#!/usr/bin/env python3
"""Export Python-made fixtures for the record registration the wallet signs.

Each record the wallet uploads carries its author's EIP-712 ``RecordRegistration`` (issue 14),
which ``RecordRegistry`` recovers on chain; the wallet must therefore hash exactly what Python
and the contract hash. This script writes ``clients/webwallet/test/fixtures/registration.json``:

- ``policyHashes``: :func:`crypto.policy.policy_hash` of record policies as the wallet composes
  them (:func:`clients.sdk.policies.record_policy_v3`) and of hand-written ones, the value the
  registration carries for the header's canonical policy;
- ``recordTypes``: record types packed as the API packs them (UTF-8, zero-padded to 32 bytes);
- ``registrations``: typed data with its type hash, domain separator, struct hash and digest,
  computed by eth-account's own EIP-712 encoder (an implementation independent of ethers).
  Nothing is signed here: the test signs with ethers and checks the digest it recovers from.

The type and the domain name come from ``RecordRegistration`` of ``crypto/signing/records.py``,
the one definition the contract is checked against.

``--check`` regenerates in memory and exits 1 when the committed file is stale
(``tests/wallet/test_export_registration.py`` runs it). The output is deterministic.

Usage: ``python scripts/export_registration.py [--check]``
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils import keccak
from generated_files import ROOT, render, sync

from clients.sdk.policies import record_policy_v3
from crypto.policy import normalize, policy_hash
from crypto.signing import DOMAIN_VERSION, EIP712_DOMAIN_TYPE, RecordRegistration, domain_name

FIXTURES = ROOT / "clients" / "webwallet" / "test" / "fixtures" / "registration.json"

REGISTRY_DOMAIN_NAME = domain_name(RecordRegistration.CONTRACT)
REGISTRATION_FIELDS: list[dict[str, str]] = RecordRegistration.eip712_fields()
RECORD_TYPE_BYTES = 31  # ledger_api/services/uploads.py: at least one trailing zero byte

PATIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
REGISTRY = "0x9fe46736679D2D9a65f0992f40E2Ea9E6FC8A4e5"
RECORD_TYPES = ["Observation", "fhir:Observation", "出院小结", "x", "a" * RECORD_TYPE_BYTES]
USER_POLICIES: list[tuple[str, str | None]] = [  # (the user's policy, the author's custodian)
    ("dept:cardiology and org:CD3H", None),
    ("", "cd3h"),
    ("2 of (a:1, b:2, c:3)", None),
    ("ROLE:doctor AND (org:cd3h OR dept:cardiology)", "qyqchc"),
]
RAW_POLICIES = [
    "org:cd3h",
    "dept:cardiology AND org:CD3H",
    "3 of (a:1, b:2, c:3, d:4, e:5) or (x:1 and x:1)",
    "2 of (a:x, 2 of (b:y, c:z, d:w), e:v and f:u)",
]


def record_type_bytes32(text: str) -> bytes:
    return text.encode("utf-8").ljust(32, b"\0")


def _policy_cases() -> list[dict[str, str]]:
    texts = [
        record_policy_v3(user, custodian=custodian) for user, custodian in USER_POLICIES
    ] + RAW_POLICIES
    return [
        {"policy": text, "normalized": normalize(text), "hash": "0x" + policy_hash(text).hex()}
        for text in texts
    ]


def _registration(message: dict[str, Any], chain_id: int) -> dict[str, Any]:
    """eth-account's EIP-712 hashes of one registration (bytes given as 0x hex)."""
    domain = {
        "name": REGISTRY_DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": REGISTRY,
    }
    typed = {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "RecordRegistration": REGISTRATION_FIELDS},
        "primaryType": "RecordRegistration",
        "domain": domain,
        "message": message,
    }
    signable = encode_typed_data(full_message=typed)
    type_string = "RecordRegistration(" + ",".join(
        f"{field['type']} {field['name']}" for field in REGISTRATION_FIELDS
    )
    type_string += ")"
    return {
        "domain": domain,
        "message": {**message, "deadline": str(message["deadline"])},  # JSON numbers stop at 2^53
        "typeString": type_string,
        "typeHash": "0x" + keccak(text=type_string).hex(),
        "domainSeparator": "0x" + bytes(signable.header).hex(),
        "structHash": "0x" + bytes(signable.body).hex(),
        "digest": "0x" + keccak(b"\x19\x01" + signable.header + signable.body).hex(),
    }


def fixtures() -> dict[str, Any]:
    policies = _policy_cases()
    messages = [
        {
            "id": "0x" + "cd" * 32,
            "patient": PATIENT,
            "bodyCid": "bafybeigg3h3odj2zwme6zd73no45ow2ybcm56jhs6xgkaeex2i3qfu4s6u",
            "headerCid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
            "bodyHash": "0x" + "11" * 32,
            "policyHash": policies[0]["hash"],
            "recordType": "0x" + record_type_bytes32("Observation").hex(),
            "deadline": 1_800_003_600,
        },
        {
            "id": "0x" + "00" * 31 + "01",
            "patient": PATIENT.lower(),
            "bodyCid": "",
            "headerCid": "bafkrei" + "a" * 52,
            "bodyHash": "0x" + "ff" * 32,
            "policyHash": policies[-1]["hash"],
            "recordType": "0x" + record_type_bytes32("出院小结").hex(),
            "deadline": 2**64 - 1,
        },
    ]
    return {
        "policyHashes": policies,
        "recordTypes": [
            {"text": text, "bytes32": "0x" + record_type_bytes32(text).hex()}
            for text in RECORD_TYPES
        ],
        "types": {"RecordRegistration": REGISTRATION_FIELDS},
        "registrations": [
            _registration(messages[0], 31337),
            _registration(messages[1], 2**40 + 7),
        ],
    }


def outputs() -> dict[Path, str]:
    return {FIXTURES: render(fixtures())}


def main(argv: list[str] | None = None) -> int:
    return sync(outputs, script="export_registration.py", doc=__doc__ or "", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
