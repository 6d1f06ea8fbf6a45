#!/usr/bin/env python3
"""Export envelope v3's constants and deterministic Python-made fixtures for the web wallet.

Envelope v3 (no single key escrow: one FAME slot per institution the policy reaches, the
patient's own X25519 slot; :mod:`crypto.envelope.header_v3`, :mod:`crypto.reach`,
:mod:`crypto.patient_key`) must be produced and read by the page exactly as by Python. This
script writes

- ``clients/webwallet/src/generated/envelope_v3.json``: labels, HKDF info strings, sizes and
  limits, the patient-key derivation message template and the EIP-712 ``PatientKey`` type;
- ``clients/webwallet/test/fixtures/envelope_v3.json``: ``reach`` vectors (policy + directory
  → slot policies), patient-key derivations (signature → private and public key), and one
  complete record (two authorities' public keys and digests, a member key of institution 1,
  the patient's private key, header and body bytes, the plaintext), all made with fixed
  randomness so the file is reproducible.

``--check`` regenerates in memory and exits 1 when a committed file is stale.

Usage: ``python scripts/export_envelope_v3.py [--check]``
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from generated_files import ROOT, render, sync

from crypto import fame, groups, patient_key, reach
from crypto.envelope import header_v3, hybrid_v3
from crypto.envelope.seal import AccountSealer, RecordBinding
from crypto.errors import PolicyReachError
from crypto.keys import dump_master_public_key, dump_user_key

DEFINITIONS = ROOT / "clients" / "webwallet" / "src" / "generated" / "envelope_v3.json"
FIXTURES = ROOT / "clients" / "webwallet" / "test" / "fixtures" / "envelope_v3.json"

# Anvil's well-known development keys (public knowledge; never use them on a real chain).
PATIENT_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
AUTHOR_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3af80f2c9d9a2e1a"

DIRECTORY = [
    reach.Institution(id=1, code="cd3h", epoch=3),
    reach.Institution(id=2, code="pjxrmyy", epoch=1),
    reach.Institution(id=3, code="qyqsq", epoch=2),
    reach.Institution(id=4, code="chqsq", epoch=1),
]
REACH_POLICIES = [
    "role:doctor and dept:cardiology",
    "org:cd3h or org:pjxrmyy",
    "org:cd3h and role:doctor",
    "(org:cd3h and dept:cardiology) or custodian:qyqsq",
    "2 of (org:cd3h, dept:cardiology, role:doctor)",
    "2 of (org:cd3h, org:pjxrmyy, role:doctor)",
    "uid:0x70997970c51812dc3a010c7d01b50e0d17dc79c8 or org:chqsq",
    "org:nowhere",
]


def _hex(data: bytes) -> str:
    return data.hex()


def definitions() -> dict[str, Any]:
    return {
        "version": header_v3.FORMAT_VERSION_V3,
        "headerAdLabel": _hex(header_v3.HEADER_AD_LABEL_V3),
        "kekInfo": _hex(header_v3.KEK_INFO_V3),
        "kekInfoSuffix": "uint32 big-endian institution id",
        "patientSlotInfo": _hex(patient_key.PATIENT_SLOT_INFO),
        "patientKeyDerivation": {
            "salt": _hex(patient_key.DERIVATION_SALT),
            "info": _hex(patient_key.DERIVATION_INFO),
            "infoSuffix": "20-byte address",
            "message": patient_key.derivation_message("0x" + "00" * 20).rsplit(" ", 1)[0],
            "messageSuffix": "checksummed address",
        },
        "patientKeyTypes": {
            "PatientKey": [
                {"name": "patient", "type": "address"},
                {"name": "publicKey", "type": "bytes32"},
                {"name": "version", "type": "uint64"},
            ]
        },
        "sizes": {
            "salt": header_v3.SALT_SIZE,
            "wrappedKey": header_v3.WRAPPED_KEY_SIZE,
            "digest": header_v3.DIGEST_SIZE,
            "x25519": header_v3.X25519_SIZE,
            "maxSlots": header_v3.MAX_SLOTS,
            "maxEmergency": header_v3.MAX_EMERGENCY_SIZE,
            "maxHeader": header_v3.MAX_HEADER_SIZE,
            "maxSeal": header_v3.MAX_SEAL_SIZE,
        },
        "institutionNamespaces": sorted(reach.INSTITUTION_NAMESPACES),
    }


class _FixedRandomness:
    """Every random draw of the encryption path from one counter (reproducible fixtures)."""

    def __init__(self) -> None:
        self._counter = iter(range(1, 1 << 30))

    def random_fr(self, *, nonzero: bool = False) -> Any:
        return _scalar(f"fr {next(self._counter)}")

    def random_bytes(self, n: int) -> bytes:
        seed = next(self._counter).to_bytes(4, "big")
        return hashlib.sha256(b"fixture" + seed).digest()[:n]


SETUP_NAMES = ("a1", "a2", "b1", "b2", "d1", "d2", "d3")


def _scalar(label: str) -> Any:
    """A fixed, full-size scalar (small ones may cancel into the identity)."""
    return groups.fr_from_int(int.from_bytes(hashlib.sha256(label.encode()).digest(), "big"))


def _authorities() -> tuple[list[hybrid_v3.AuthorityKey], list[Any]]:
    keys, secrets = [], []
    for i, inst in enumerate(DIRECTORY[:2]):
        mpk, msk = fame._setup(**{n: _scalar(f"setup {i} {n}") for n in SETUP_NAMES})
        keys.append(hybrid_v3.AuthorityKey(inst, mpk, hybrid_v3.authority_digest(mpk)))
        secrets.append(msk)
    return keys, secrets


def fixtures() -> dict[str, Any]:
    vectors = []
    for policy in REACH_POLICIES:
        try:
            slots = [
                {"institution": r.institution.id, "policy": r.policy}
                for r in reach.reach(policy, DIRECTORY)
            ]
        except PolicyReachError as exc:
            slots = [{"error": type(exc).__name__}]
        vectors.append({"policy": policy, "slots": slots})
    patient = Account.from_key(PATIENT_KEY)
    signature = bytes(
        patient.sign_message(
            encode_defunct(text=patient_key.derivation_message(patient.address))
        ).signature
    )
    derived = patient_key.derive_from_signature(signature, patient.address)
    authorities, secrets = _authorities()
    plaintext = b'{"resourceType":"Observation","status":"final","note":"' + b"x" * 400 + b'"}'
    binding = RecordBinding(record_id=bytes(range(32)), patient=patient.address)
    record, body = hybrid_v3.encrypt_bytes_v3(
        plaintext,
        authorities=authorities,
        policy="role:doctor and (org:cd3h or dept:cardiology)",
        patient_public_key=derived.public_key,
        binding=binding,
        sealer=AccountSealer(Account.from_key(AUTHOR_KEY)),
        content_type="application/fhir+json",
        segment_size=256,
        randomness=_FixedRandomness(),
    )
    held = frozenset({"role:doctor", "org:cd3h", "epoch:3"})
    member = fame._keygen(
        secrets[0],
        held,
        r1=_scalar("r1"),
        r2=_scalar("r2"),
        sigma={y: _scalar(f"sigma {y}") for y in sorted(held)},
        sigma_prime=_scalar("sigma'"),
    )
    return {
        "directory": [{"id": i.id, "code": i.code, "epoch": i.epoch} for i in DIRECTORY],
        "reach": vectors,
        "patientKey": {
            "address": patient.address,
            "message": patient_key.derivation_message(patient.address),
            "signature": _hex(signature),
            "privateKey": _hex(derived.private_bytes()),
            "publicKey": _hex(derived.public_key),
        },
        "record": {
            "authorities": [
                {
                    "institution": a.institution.id,
                    "mpk": _hex(dump_master_public_key(a.mpk)),
                    "digest": _hex(a.digest),
                }
                for a in authorities
            ],
            "memberKeyInstitution1": _hex(dump_user_key(member)),
            "patientPrivateKey": _hex(derived.private_bytes()),
            "header": _hex(record.header_bytes),
            "associatedData": _hex(record.header.associated_data()),
            "body": _hex(body),
            "plaintext": plaintext.decode(),
            "author": Account.from_key(AUTHOR_KEY).address,
        },
    }


def outputs() -> dict[Path, str]:
    return {DEFINITIONS: render(definitions()), FIXTURES: render(fixtures())}


def main(argv: list[str] | None = None) -> int:
    return sync(outputs, script="export_envelope_v3.py", doc=__doc__ or "", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
