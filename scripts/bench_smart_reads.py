#!/usr/bin/env python3
"""SMART app reads against direct reads: ``app_read_p50_ms`` and ``direct_read_p50_ms``.

The design (``docs/marketplace.md``): an app gets plaintext only through its user's page,
which introspects the app's token with its own session, reads the record with an
``AppReadRequest`` signed for the app (checked by the API and logged on chain with the app's
ids), and decrypts with its own key. ``app_read_p50_ms`` is the median time for the app to get
one decrypted Observation that way (:meth:`clients.sdk.SmartMixin.app_read`: introspection,
header and body reads each logged on chain, decryption); ``direct_read_p50_ms`` the same record
read by the user for themselves (:meth:`fetch_bytes`). The difference is the bridge's cost.

The stack is ``bench_api_stack.local_stack`` (anvil, contracts, the demo consortium, a key
authority process per institution, the API in its own process). The app is listed Live by three
administrators' signed votes, carried by a relayer the consortium admin enrols for the
benchmark; the patient connects it to their own chart (stand-alone launch, PKCE, authlib's
OAuth 2 client as the app, the patient's ``AppAuthorization`` on chain).

    python scripts/bench_smart_reads.py            # table
    python scripts/bench_smart_reads.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from eth_account import Account
from eth_account.signers.local import LocalAccount

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench_api_stack import local_stack  # noqa: E402
from bench_smart import list_live  # noqa: E402

from clients.sdk import MedLedgerClient  # noqa: E402
from ledger_api.chain import marketplace as mk  # noqa: E402
from ledger_api.chain.consortium import Consortium, Role  # noqa: E402
from ledger_api.chain.devnode import DEV_ADMIN_KEY  # noqa: E402
from ledger_api.chain.relayer import Relayer  # noqa: E402

DEADLINE = 2**40
APP = "bench-bp-chart"
CALLBACK = f"https://apps.example.cn/{APP}/callback"
SCOPE = "launch/patient openid fhirUser patient/Observation.rs"
OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "effectiveDateTime": "2026-11-03T09:00:00+08:00",
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 142, "unit": "mmHg"},
        }
    ],
}


def _manifest() -> dict[str, object]:
    return {
        "name": APP,
        "type": "clinical-visualisation",
        "description": "Plots a patient's blood-pressure Observations over time.",
        "vendor": "bench vendor",
        "version": "1.0.0",
        "date": "2026-12-08",
        "smart_version": "2.2.0",
        "client_type": "public",
        "redirect_urls": [CALLBACK],
        "launch_url": f"https://apps.example.cn/{APP}/launch",
        "scopes": [{"scope": s, "justification": "bench"} for s in SCOPE.split()],
        "package_digest": "sha256:" + hashlib.sha256(APP.encode()).hexdigest(),
    }


def _list_app(url: str, w3: object) -> bytes:
    """List the app Live: a benchmark relayer (enrolled by the consortium admin) carries the
    vendor's submission and the three administrators' votes; the manifest goes through the
    API's upload route as a vendor's would."""
    contracts = httpx.get(f"{url}/chain", timeout=30).json()["contracts"]
    admin_consortium = Consortium(w3, contracts["Consortium"], sender=Relayer(w3, DEV_ADMIN_KEY))
    carrier = Account.create()
    admin_consortium.enrol_member(
        account=carrier.address, institution_id=0, role=Role.RELAYER
    ).wait()
    market = mk.Marketplace(w3, contracts["Marketplace"], sender=Relayer(w3, carrier.key))

    def store(vendor: LocalAccount, document: dict[str, object]) -> str:
        with MedLedgerClient(url, account=vendor) as seller:
            return str(seller._http.json("POST", "/marketplace/manifests", json=document)["uri"])

    return list_live(market, _manifest(), store)


def read_figures(samples: int = 30) -> dict[str, float]:
    """``app_read_p50_ms`` and ``direct_read_p50_ms`` over ``samples`` reads each."""
    with local_stack() as stack:
        app_id = _list_app(stack.url, stack.w3)
        client_id = httpx.post(
            f"{stack.url}/smart/register",
            json={
                "software_id": "0x" + app_id.hex(),
                "software_version": "1",
                "redirect_uris": [CALLBACK],
            },
            timeout=30,
        ).json()["client_id"]
        patient = stack.client("patient").sdk
        record = patient.share_fhir(OBSERVATION, patient=stack.patient, policy=stack.policy)
        app = OAuth2Session(
            client_id=client_id,
            redirect_uri=CALLBACK,
            scope=SCOPE,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
        verifier = generate_token(64)
        url, _ = app.create_authorization_url(
            f"{stack.url}/smart/authorize", code_verifier=verifier, aud=stack.url
        )
        decision = patient.approve_app(url)
        token = app.fetch_token(
            f"{stack.url}/smart/token",
            authorization_response=decision["redirect_to"],
            code_verifier=verifier,
        )["access_token"]
        expected = json.loads(patient.fetch_bytes(record.record_id))
        app_times, direct_times = [], []
        for _ in range(samples + 2):  # two warm-ups each, not counted
            start = time.perf_counter()
            resource = patient.app_read(token, record.record_id)
            app_times.append((time.perf_counter() - start) * 1000)
            assert resource == expected
            start = time.perf_counter()
            patient.fetch_bytes(record.record_id)
            direct_times.append((time.perf_counter() - start) * 1000)
        return {
            "app_read_p50_ms": float(statistics.median(app_times[2:])),
            "direct_read_p50_ms": float(statistics.median(direct_times[2:])),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--samples", type=int, default=30, help="reads timed of each kind")
    args = parser.parse_args(argv)
    figures = read_figures(max(1, args.samples))
    if args.json:
        print(json.dumps({k: round(v, 2) for k, v in figures.items()}))
    else:
        for key, value in figures.items():
            print(f"{key:22} {value:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
