#!/usr/bin/env python3
"""Export TDH2's constants and deterministic Python-made vectors for the web apps.

The workstation opens a record's emergency slot in the page (break-glass by threshold,
``docs/break-glass.md``): it checks each authority's decryption share and combines ``t`` of
them exactly as :mod:`crypto.threshold.tdh2` does, and signs the
:class:`~crypto.signing.emergency_shares.EmergencyShareRequest` the authorities check. This
script writes

- ``clients/webwallet/src/generated/tdh2.json``: the hash tags, ``g`` and ``ḡ`` (an RFC 9380
  hash to G1 that the page does not recompute), sizes, the sealed-answer purpose and the
  EIP-712 type;
- ``clients/webwallet/test/fixtures/tdh2.json``: a 2-of-3 key, slots of data keys for two
  records with every authority's share, a share that fails its proof, Lagrange coefficients,
  and a share request signed by a fixed key; all made with fixed randomness (reproducible).

``--check`` regenerates in memory and exits 1 when a committed file is stale.

Usage: ``python scripts/export_tdh2.py [--check]``
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from generated_files import ROOT, render, sync

from crypto.groups import fr_from_int
from crypto.signing.core import sign
from crypto.signing.emergency_shares import EmergencyShareRequest, records_hash
from crypto.threshold import group, slot, tdh2
from crypto.threshold.keys import EmergencyPublicKey
from crypto.threshold.tdh2 import DecryptionShare

DEFINITIONS = ROOT / "clients" / "webwallet" / "src" / "generated" / "tdh2.json"
FIXTURES = ROOT / "clients" / "webwallet" / "test" / "fixtures" / "tdh2.json"

# Anvil's well-known development key #3 (public knowledge; never use it on a real chain).
CLINICIAN_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
FIXTURE_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PATIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
T, N, ROUND = 2, 3, 7


class _Randomness:
    """Fixed scalars in place of the OS CSPRNG, so the vectors are reproducible."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.count = 0

    def __call__(self, *, nonzero: bool = False) -> Any:
        self.count += 1
        digest = hashlib.sha512(f"{self.seed}/{self.count}".encode()).digest()
        return fr_from_int(int.from_bytes(digest, "big") % (group.GROUP_ORDER - 1) + 1)


def definitions() -> dict[str, Any]:
    return {
        "formatVersion": tdh2.FORMAT_VERSION,
        "maxMessageBytes": tdh2.MAX_MESSAGE_BYTES,
        "dataKeySize": slot.DATA_KEY_SIZE,
        "tags": {
            "h1": tdh2._H1_TAG.hex(),
            "h2": tdh2._H2_TAG.hex(),
            "h4": tdh2._H4_TAG.hex(),
            "label": tdh2._LABEL_TAG.hex(),
        },
        "g": group.g1_to_bytes(group.G).hex(),
        "gbar": group.g1_to_bytes(group.GBAR).hex(),
        "maxParties": group.MAX_PARTIES,
        "sharesPurpose": slot.SHARES_PURPOSE,
        "eip712": {
            "domain": {"name": "MedLedger EmergencyKeys", "version": "1"},
            "types": {EmergencyShareRequest.primary_type(): EmergencyShareRequest.eip712_fields()},
        },
    }


def _key() -> tuple[EmergencyPublicKey, list[Any]]:
    poly = [_Randomness("poly")() for _ in range(T)]
    xs = [group.eval_poly(poly, i) for i in range(1, N + 1)]
    key = EmergencyPublicKey(
        key_round=ROUND,
        t=T,
        n=N,
        h=group.G * poly[0],
        verification_keys=tuple(group.G * x for x in xs),
    )
    return key, xs


def fixtures() -> dict[str, Any]:
    key, xs = _key()
    cases = []
    randomness = _Randomness("tdh2")
    for k in range(2):
        record_id = hashlib.sha256(f"record {k}".encode()).digest()
        data_key = hashlib.sha256(f"data key {k}".encode()).digest()
        label = tdh2.emergency_label(record_id=record_id, patient=PATIENT, key_round=ROUND)
        r = randomness(nonzero=True)
        ciphertext = tdh2.encrypt_with_randomness(key, data_key, label, r=r, s=randomness())
        shares = [
            tdh2.decrypt_share(
                key, ciphertext, label, index=i, secret_share=xs[i - 1], s_i=randomness()
            )
            for i in range(1, N + 1)
        ]
        assert tdh2.combine(key, ciphertext, label, shares[1:]) == data_key
        cases.append(
            {
                "recordId": "0x" + record_id.hex(),
                "patient": PATIENT,
                "label": label.hex(),
                "slot": ciphertext.to_bytes().hex(),
                "dataKey": data_key.hex(),
                "shares": [s.to_bytes().hex() for s in shares],
            }
        )
    # authority 2's share of record 1's slot presented for record 0: its proof fails
    wrong = DecryptionShare.from_bytes(bytes.fromhex(cases[1]["shares"][1]))
    first = tdh2.Ciphertext.from_bytes(bytes.fromhex(cases[0]["slot"]))
    try:
        tdh2.verify_share(key, first, wrong)
        raise AssertionError("a share of another slot passed its proof")
    except tdh2.InvalidShareError:
        pass
    lagrange = {
        ",".join(map(str, idx)): [
            group.fr_to_bytes(group.lagrange_at_zero(idx, i)).hex() for i in idx
        ]
        for idx in ([1, 2], [1, 3], [2, 3], [1, 2, 3])
    }
    clinician = Account.from_key(CLINICIAN_KEY)
    ids = [bytes.fromhex(c["recordId"][2:]) for c in cases]
    request = EmergencyShareRequest(
        opening_id=hashlib.sha256(b"opening").digest(),
        records_hash=records_hash(ids),
        authority="0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        recipient_key=bytes(range(32)),
        deadline=1_900_000_000,
    )
    domain = EmergencyShareRequest.domain(chain_id=31337, verifying_contract=FIXTURE_CONTRACT)
    return {
        "key": {
            "round": ROUND,
            "t": T,
            "h": key.h_bytes().hex(),
            "verificationKeys": key.verification_keys_bytes().hex(),
        },
        "cases": cases,
        "badShare": {"case": 0, "share": wrong.to_bytes().hex()},
        "lagrange": lagrange,
        "request": {
            "chainId": 31337,
            "verifyingContract": FIXTURE_CONTRACT,
            "clinician": clinician.address,
            "recordIds": [c["recordId"] for c in cases],
            "message": {
                "openingId": "0x" + request.opening_id.hex(),
                "recordsHash": "0x" + request.records_hash.hex(),
                "authority": request.authority,
                "recipientKey": "0x" + request.recipient_key.hex(),
                "deadline": request.deadline,
            },
            "signature": "0x" + sign(domain, request, CLINICIAN_KEY).hex(),
        },
    }


def outputs() -> dict[Path, str]:
    return {DEFINITIONS: render(definitions()), FIXTURES: render(fixtures())}


def main(argv: list[str] | None = None) -> int:
    return sync(outputs, script="export_tdh2.py", doc=__doc__ or "", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
