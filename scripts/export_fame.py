#!/usr/bin/env python3
"""Export FAME's public constants and Python-made fixtures for the wallet's in-browser encryption.

The wallet encrypts records in the browser (``clients/webwallet/src/fame.js``,
``envelope.js``) and Python must decrypt them, so the JavaScript must reproduce
``crypto/`` byte for byte: mcl's point and GT encodings, RFC 9380 hashing with
``crypto.groups.HASH_DST``, the span programs of ``crypto.msp`` and the envelope's labels.
Rather than copying constants by hand, this script writes

- ``clients/webwallet/src/generated/fame.json``: the generators ``g``/``h``, the constant
  ``e(g, h)`` (so the browser needs no pairing: FAME encryption is ``T1^s1 · T2^s2 · M`` with
  ``M = e(g, h)^r``), the hash DST, the scheme id and the envelope's labels and sizes;
- ``clients/webwallet/test/fixtures/fame.json``: points, GT elements, hash outputs of FAME
  messages and span programs Python makes for fixed inputs, which the vitest suite must
  reproduce exactly.

Both are committed; ``--check`` regenerates in memory and exits 1 when a committed file is
stale (``tests/wallet/test_export_fame.py`` runs it). The output is deterministic.

Usage: ``python scripts/export_fame.py [--check]``
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pymcl
from generated_files import ROOT, render, sync

from clients.sdk.fhir_index import clinical_date
from clients.sdk.policies import record_policy_v3
from crypto import fame, groups, stream
from crypto.envelope import header as envelope_header
from crypto.envelope import keywrap, seal
from crypto.fame_types import SCHEME_ID
from crypto.msp import span_program
from crypto.policy import normalize

DEFINITIONS = ROOT / "clients" / "webwallet" / "src" / "generated" / "fame.json"
FIXTURES = ROOT / "clients" / "webwallet" / "test" / "fixtures" / "fame.json"

PATIENT = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
POLICIES = [
    "org:cd3h",
    "dept:cardiology AND org:CD3H",
    "role:doctor and (org:cd3h or dept:cardiology)",
    "2 of (org:cd3h, dept:cardiology, uid:0xabc0)",
    "3 of (a:1, b:2, c:3, d:4, e:5) or (x:1 and x:1)",
    "org:cd3h or org:cd3h or (org:cd3h and role:doctor)",
    f"((dept:cardiology and org:cd3h) and epoch:3) or uid:{PATIENT}"
    f" or (role:emergency and patient:{PATIENT} and bg:0)",
    "2 of (a:x, 2 of (b:y, c:z, d:w), e:v and f:u)",
]


_FHIR_SAMPLES: list[dict[str, Any]] = [
    {
        "resourceType": "Observation",
        "effectiveDateTime": "2026-03-01T08:30:00+08:00",
        "issued": "2026-03-02",
    },
    {
        "resourceType": "Observation",
        "effectivePeriod": {"start": "2026-02"},
        "issued": "2026-03-02",
    },
    {
        "resourceType": "Observation",
        "effectiveDateTime": "2026-02-30",
        "issued": "2026-03-02T10:00:00Z",
    },
    {"resourceType": "Observation", "meta": {"lastUpdated": "2025-12-31T23:59:59.123Z"}},
    {"resourceType": "DiagnosticReport", "issued": "2026-01-05T09:00:00Z"},
    {"resourceType": "Patient", "birthDate": "1980-01-01"},
    {"resourceType": "Bundle", "timestamp": "2026-04-01T00:00:00Z", "entry": []},
    {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "Observation", "effectiveDateTime": "2026-01-02"}},
            {
                "resource": {
                    "resourceType": "DiagnosticReport",
                    "issued": "2026-01-03T00:00:00+01:00",
                }
            },
            {"resource": {"resourceType": "Encounter", "period": {"start": "2025-11"}}},
            "not a dict",
        ],
    },
    {"resourceType": "Bundle", "entry": [], "meta": {"lastUpdated": "2024"}},
]


def _hex(data: bytes) -> str:
    return data.hex()


def definitions() -> dict[str, Any]:
    """What the app encrypts with: generators, e(g,h), the DST and the envelope's labels."""
    return {
        "scheme": SCHEME_ID,
        "hashDst": groups.HASH_DST.decode("ascii"),
        "g": _hex(groups.g1_to_bytes(fame.g)),
        "h": _hex(groups.g2_to_bytes(fame.h)),
        "egh": _hex(groups.gt_to_bytes(fame.pairing_base())),
        "envelope": {
            "version": envelope_header.LEGACY_VERSION,
            "kekInfo": _hex(keywrap.KEK_INFO),
            "headerAdLabel": _hex(envelope_header.HEADER_AD_LABEL),
            "headerAdLabelV2": _hex(envelope_header.HEADER_AD_LABEL_V2),
            "sealInfo": _hex(seal.SEAL_INFO),
            "sealAdLabel": _hex(seal.SEAL_AD_LABEL),
            "segmentAdLabel": _hex(stream.SEGMENT_AD_LABEL),
            "saltSize": envelope_header.SALT_SIZE,
            "bodyIdSize": stream.BODY_ID_SIZE,
            "keySize": stream.KEY_SIZE,
            "tagSize": stream.TAG_SIZE,
            "noncePrefixSize": stream.NONCE_PREFIX_SIZE,
            "segmentSize": stream.DEFAULT_SEGMENT_SIZE,
        },
        "recordContent": {
            "domain": seal.RECORD_CONTENT_DOMAIN,
            "types": {"RecordContent": seal.RECORD_CONTENT_TYPES["RecordContent"]},
        },
    }


def _fr(value: int) -> pymcl.Fr:
    return groups.fr_from_int(value)


def fixtures() -> dict[str, Any]:
    """Fixed inputs and what Python (mcl) makes of them."""
    scalars = [1, 2, 3, 7, 123456789, groups.GROUP_ORDER - 1, 2**200 + 12345]
    gt_scalars = [1, 2, 5, 2**128 + 3, groups.GROUP_ORDER - 1]
    base = fame.pairing_base()
    attributes = [f"uid:{PATIENT}", "org:cd3h", "dept:cardiology", "epoch:3"]
    hashes = []
    for attribute in attributes:
        for ell in (1, 2, 3):
            for t in (1, 2):
                hashes.append(
                    {
                        "attribute": attribute,
                        "l": ell,
                        "t": t,
                        "point": _hex(groups.hash_attribute(attribute, ell, t).serialize()),
                    }
                )
    for j in (1, 2, 3, 17):
        for ell in (1, 3):
            hashes.append(
                {
                    "column": j,
                    "l": ell,
                    "t": 2,
                    "point": _hex(groups.hash_column(j, ell, 2).serialize()),
                }
            )
    programs = []
    for policy in POLICIES:
        program = span_program(normalize(policy))
        programs.append(
            {
                "policy": policy,
                "normalized": normalize(policy),
                "labels": list(program.labels),
                "nCols": program.n_cols,
                "rows": [
                    [[j, str(m % groups.GROUP_ORDER)] for j, m in row]
                    for row in program.sparse_rows
                ],
            }
        )
    composed = []
    for user in ("dept:cardiology and org:CD3H", "2 of (a:1, b:2, c:3)", "ROLE:doctor or uid:0xAB"):
        text = record_policy_v3(user)  # a patient's own record: no custodian
        composed.append({"user": user, "policy": text, "normalized": normalize(text)})
    dates = [{"resource": resource, "date": clinical_date(resource)} for resource in _FHIR_SAMPLES]
    return {
        "recordPolicies": composed,
        "clinicalDates": dates,
        "g1": [{"k": str(k), "point": _hex((fame.g * _fr(k)).serialize())} for k in scalars],
        "g2": [{"k": str(k), "point": _hex((fame.h * _fr(k)).serialize())} for k in scalars],
        "gt": [{"k": str(k), "element": _hex((base ** _fr(k)).serialize())} for k in gt_scalars],
        "hashes": hashes,
        "programs": programs,
    }


def outputs() -> dict[Path, str]:
    return {DEFINITIONS: render(definitions()), FIXTURES: render(fixtures())}


def main(argv: list[str] | None = None) -> int:
    return sync(outputs, script="export_fame.py", doc=__doc__ or "", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
