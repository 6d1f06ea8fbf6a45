#!/usr/bin/env python3
"""Export the signing definitions of ``crypto/`` to JSON for the patient wallet web app.

The browser must sign byte-for-byte what Python checks: the EIP-712 types and domains of
``crypto/signing/`` (``Consent`` and ``Revocation`` under ``eip712``, as the app has always read
them; every contract's domain and types under ``domains``, among them the
``RecordRegistration`` the wallet signs for each record it uploads, the ``ReadRequest`` a
reader signs, and the app marketplace's ``AppReadRequest``, ``AppAuthorization`` and
``AppRevocation``), the EIP-4361 message layout of ``crypto/siwe.py`` and the canonical form of a
grant's attribute policy (``crypto/policy.py``). Rather than copying those definitions into
JavaScript, this script writes them, once, to

- ``clients/webwallet/src/generated/eip712.json``: what the app builds its messages from;
- ``clients/webwallet/test/fixtures/python.json``: messages, ids and signatures Python makes
  for fixed inputs (a fixed test key, fixed times), which the vitest suite must reproduce
  with ethers exactly.

Both are committed; ``--check`` regenerates in memory and exits 1 when a committed file is
stale (a pytest test runs it), so a change in ``crypto/`` cannot silently desynchronise the
wallet. The output is deterministic (sorted keys, RFC 6979 signatures).

Usage: ``python scripts/export_eip712.py [--check]``
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from generated_files import ROOT, render, sync

from clients.sdk import SIWE_STATEMENT
from crypto import siwe
from crypto.policy import normalize, policy_hash
from crypto.signing import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    EIP712_DOMAIN_TYPE,
    EIP712_TYPES,
    TYPES_BY_CONTRACT,
    ZERO_ADDRESS,
    AppAuthorization,
    AppReadRequest,
    AppRevocation,
    Consent,
    Domain,
    Purpose,
    ReadPart,
    ReadRequest,
    RecordRegistration,
    Revocation,
    client_id_hash,
    consent_id,
    domain_name,
    scope_hash,
    sign,
    type_string,
    typed_data,
)

DEFINITIONS = ROOT / "clients" / "webwallet" / "src" / "generated" / "eip712.json"
FIXTURES = ROOT / "clients" / "webwallet" / "test" / "fixtures" / "python.json"

# a fixed, public test key: fixtures only, never a real wallet
FIXTURE_KEY = "0x" + "11" * 32
FIXTURE_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
FIXTURE_GRANTEE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def definitions() -> dict[str, Any]:
    """What the app needs to build consents, revocations, registrations, read requests and
    sign-in messages."""
    return {
        "domains": {
            contract: {
                "domain": {"name": domain_name(contract), "version": DOMAIN_VERSION},
                "types": {t.primary_type(): t.eip712_fields() for t in types},
                "typeStrings": {t.primary_type(): t.type_string() for t in types},
            }
            for contract, types in TYPES_BY_CONTRACT.items()
        },
        "readParts": {p.name.lower(): int(p) for p in ReadPart},
        "eip712": {
            "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION},
            "domainType": EIP712_DOMAIN_TYPE,
            "types": EIP712_TYPES,
            "typeStrings": {name: type_string(name) for name in EIP712_TYPES},
            "purposes": {p.name.lower(): int(p) for p in Purpose},
            "zeroAddress": ZERO_ADDRESS,
            "zeroBytes32": "0x" + "00" * 32,
        },
        "siwe": {
            "preamble": siwe.PREAMBLE,
            "version": siwe.VERSION,
            "statement": SIWE_STATEMENT,
        },
    }


def _siwe_cases(address: str) -> list[dict[str, Any]]:
    issued = datetime(2026, 3, 1, 8, 30, 0, tzinfo=UTC)
    expires = datetime(2026, 3, 1, 8, 35, 0, 250000, tzinfo=UTC)
    base = {
        "domain": "localhost",
        "address": address,
        "uri": "http://localhost",
        "chain_id": 31337,
        "nonce": "AbCdEf0123456789x",
        "issued_at": issued,
    }
    variants = [
        {"statement": SIWE_STATEMENT, "expiration_time": expires},
        {"statement": None, "expiration_time": None},
        {"statement": SIWE_STATEMENT, "expiration_time": issued, "domain": "wallet.cd3h.cn:8443"},
    ]
    cases = []
    for extra in variants:
        fields = {**base, **extra}
        message = siwe.SiweMessage(**fields)
        cases.append(
            {
                "fields": {
                    "domain": fields["domain"],
                    "address": address,
                    "uri": fields["uri"],
                    "chainId": fields["chain_id"],
                    "nonce": fields["nonce"],
                    "issuedAt": _api_time(fields["issued_at"]),
                    "expirationTime": _api_time(fields["expiration_time"]),
                    "statement": fields["statement"],
                },
                "text": message.text(),
                "signature": "0x" + siwe.sign(message, FIXTURE_KEY).hex(),
            }
        )
    return cases


def _api_time(value: datetime | None) -> str | None:
    """As the API's ``/auth/nonce`` sends times (pydantic's ISO 8601, ``Z`` for UTC)."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def fixtures() -> dict[str, Any]:
    """Fixed inputs and what Python makes of them, for the vitest suite to reproduce."""
    account = Account.from_key(FIXTURE_KEY)
    domain = Domain(chain_id=31337, verifying_contract=FIXTURE_CONTRACT)
    policy_text = "role:doctor and org:cd3h and dept:cardiology"
    consents = {
        "address": Consent(
            patient=account.address,
            grantee=FIXTURE_GRANTEE,
            record_id=bytes.fromhex("ab" * 32),
            purpose=Purpose.TREATMENT,
            not_before=0,
            expires_at=1_900_000_000,
            nonce=1_772_000_000_123_456_789,
        ),
        "policy": Consent(
            patient=account.address,
            grantee_policy_hash=policy_hash(policy_text),
            purpose=Purpose.CONSULTATION,
            not_before=1_800_000_000,
            expires_at=1_900_000_000,
            nonce=7,
        ),
    }
    consent_cases = {}
    for name, consent in consents.items():
        consent_cases[name] = {
            "typedData": _jsonable(typed_data(domain, consent)),
            "consentId": "0x" + consent_id(consent).hex(),
            "signature": "0x" + sign(domain, consent, FIXTURE_KEY).hex(),
        }
    revocation = Revocation(
        patient=account.address,
        consent_id=consent_id(consents["address"]),
        nonce=1_772_000_000_123_456_790,
        deadline=1_800_003_600,
    )
    registration = RecordRegistration(
        id=bytes.fromhex("cd" * 32),
        patient=account.address,
        body_cid="bafkreibody" + "a" * 48,
        header_cid="bafkreiheader" + "b" * 46,
        body_hash=bytes.fromhex("11" * 32),
        policy_hash=policy_hash(policy_text),
        record_type=b"fhir:Observation".ljust(32, b"\x00"),
        deadline=1_800_003_600,
    )
    read = ReadRequest(
        record_id=registration.id,
        part=ReadPart.BODY,
        purpose=int(Purpose.TREATMENT),
        issued_at=1_800_000_000,
        nonce=2**64 - 2,
    )
    client_id = "bp-chart-血压"
    scopes = ["patient/Observation.rs", "launch/patient", "openid", "fhirUser"]
    app_id = bytes.fromhex("a1" * 32)
    app_read = AppReadRequest(
        record_id=registration.id,
        part=ReadPart.BODY,
        purpose=int(Purpose.TREATMENT),
        issued_at=1_800_000_000,
        nonce=2**64 - 3,
        app_id=app_id,
        client_id=client_id_hash(client_id),
    )
    app_authorization = AppAuthorization(
        user=account.address,
        patient=FIXTURE_GRANTEE,
        app_id=app_id,
        client_id=client_id_hash(client_id),
        scope_hash=scope_hash(scopes),
        nonce=2**200 + 5,
        deadline=1_800_003_600,
    )
    app_revocation = AppRevocation(
        patient=account.address, app_id=app_id, nonce=7, deadline=1_800_003_600
    )
    signed_types = {}
    for name, message in (
        ("recordRegistration", registration),
        ("readRequest", read),
        ("appReadRequest", app_read),
        ("appAuthorization", app_authorization),
        ("appRevocation", app_revocation),
    ):
        domain_of = message.domain(chain_id=31337, verifying_contract=FIXTURE_CONTRACT)
        signed_types[name] = {
            "typedData": _jsonable(message.typed_data(domain_of)),
            "structHash": "0x" + message.struct_hash().hex(),
            "signature": "0x" + sign(domain_of, message, FIXTURE_KEY).hex(),
        }
    policies = [
        ["org:cd3h"],
        ["role:doctor", "org:CD3H", "dept:cardiology"],
        ["dept:general_practice", "org:qyqchc"],
    ]
    return {
        "privateKey": FIXTURE_KEY,
        "address": account.address,
        "domain": _jsonable(domain.as_dict()),
        "siwe": _siwe_cases(account.address),
        "consents": consent_cases,
        "revocation": {
            "typedData": _jsonable(typed_data(domain, revocation)),
            "signature": "0x" + sign(domain, revocation, FIXTURE_KEY).hex(),
        },
        **signed_types,
        "appIds": {
            "clientId": client_id,
            "clientIdHash": "0x" + client_id_hash(client_id).hex(),
            "scopes": scopes,
            "scopeHash": "0x" + scope_hash(scopes).hex(),
        },
        "policies": [
            {
                "attributes": attrs,
                "normalized": normalize(" and ".join(attrs)),
                "hash": "0x" + policy_hash(" and ".join(attrs)).hex(),
            }
            for attrs in policies
        ],
        "policyText": policy_text,
    }


def _jsonable(value: Any) -> Any:
    """bytes → 0x hex; big integers stay integers (JSON numbers; the test reads them as text)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)  # beyond a JS number's exact range
    return value


def outputs() -> dict[Path, str]:
    return {DEFINITIONS: render(definitions()), FIXTURES: render(fixtures())}


def main(argv: list[str] | None = None) -> int:
    return sync(outputs, script="export_eip712.py", doc=__doc__ or "", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
