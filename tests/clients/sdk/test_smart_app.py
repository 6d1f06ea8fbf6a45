"""Issue 21's whole path against real parts (anvil, the contracts, the API over HTTP, each
institution's key authority): a vendor's app goes Live only with the third administrator's
vote; an institution installs it; a cardiologist launches it on a chart (EHR launch), and
authlib's OAuth 2 client — the app — gets a token through PKCE; the cardiologist's client (the
page) answers the app's searches by reading and decrypting for it: exactly the Observations
the token's scopes and the patient's consents allow. The rest is refused — by the page, and by
the API on chain when the page is bypassed. The patient revokes the app on chain and its next
request is refused; an auditor's verification recovers every app read's signer.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from clients.sdk import MedLedgerClient
from clients.sdk.errors import NotAllowedError, UnauthorizedError
from clients.sdk.smart_models import AppRefusedError
from crypto.signing import client_id_hash
from ledger_api.chain.marketplace import AppStatus, approval
from tests.api.smart_support import FAR, app_session, authorize_url, manifest, open_market
from tests.clients.conftest import LiveStack

SCOPE = "launch openid fhirUser patient/Observation.rs"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite: the SMART server's backends are tested in tests/api."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def blood_pressure(patient: str, systolic: int, diastolic: int, day: int) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": f"2026-11-{day:02d}T09:00:00+08:00",
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": systolic, "unit": "mmHg"},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {"value": diastolic, "unit": "mmHg"},
            },
        ],
    }


CONDITION = {
    "resourceType": "Condition",
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
    "subject": {"reference": "Patient/p"},
}


def test_listed_installed_launched_read_for_refused_and_revoked(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    base = live_stack.url
    ctx = live_stack.server.config.app.state.ctx  # the served API's (its relayer, its store)
    market = open_market(stack, ctx)
    binding = market.binding

    # listing: two votes leave it In Review, the third makes it Live
    app_id = market.publish("bp-chart", manifest(), votes=2)
    assert binding.version_of(app_id, 1).status == AppStatus.IN_REVIEW
    third = list(market.admins.values())[2]
    ballot = approval(app_id=app_id, version=1, deadline=FAR)
    binding.vote(message=ballot, signature=binding.sign_as(third, ballot)).wait()
    assert binding.version_of(app_id, 1).status == AppStatus.LIVE
    market.install(stack.cd3h, app_id)

    # the patient's chart: two blood pressures and a condition, all consented to the cardiologist
    patient_address = stack.patient.address
    with MedLedgerClient(base, account=stack.patient) as patient:
        pressures = [
            patient.share_fhir(
                blood_pressure(patient_address, s, d, day),
                patient=patient_address,
                policy="dept:cardiology",
            )
            for s, d, day in ((142, 91, 3), (128, 84, 17))
        ]
        condition = patient.share_fhir(CONDITION, patient=patient_address, policy="dept:cardiology")
        patient.grant(grantee=stack.cardiologist.address)

    registered = requests.post(
        f"{base}/smart/register",
        json={
            "software_id": "0x" + app_id.hex(),
            "software_version": "1",
            "redirect_uris": [manifest()["redirect_urls"][0]],
        },
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]

    with MedLedgerClient(base, account=stack.cardiologist) as doctor:
        launched = doctor.launch_app(app_id, patient_address)
        launch = parse_qs(urlsplit(launched["launch_url"]).query)["launch"][0]
        app, verifier = app_session(base, client_id, SCOPE)
        app.redirect_uri = manifest()["redirect_urls"][0]
        decision = doctor.approve_app(authorize_url(app, base, verifier, launch=launch))
        token = app.fetch_token(
            f"{base}/smart/token",
            authorization_response=decision["redirect_to"],
            code_verifier=verifier,
        )
        assert token["patient"] == patient_address
        access = token["access_token"]

        # the approval is on chain, signed by the cardiologist, for this app and client
        receipt = ctx.chain.w3.eth.get_transaction_receipt(decision["authorization_tx"])
        (authorized,) = binding.contract.events.AppAuthorized().process_receipt(receipt)
        assert authorized["args"]["user"] == stack.cardiologist.address
        assert authorized["args"]["patient"] == patient_address
        assert authorized["args"]["clientId"] == client_id_hash(client_id)

        first_block = ctx.chain.w3.eth.block_number
        bundle = doctor.app_search(access, "Observation")
        values = sorted(
            e["resource"]["component"][0]["valueQuantity"]["value"] for e in bundle["entry"]
        )
        assert values == [128, 142]
        assert bundle["total"] == len(pressures)

        # the page refuses what the scopes do not cover; bypassing the page, the API refuses it
        # too, and the refusal is on chain attributed to the app
        with pytest.raises(AppRefusedError):
            doctor.app_search(access, "Condition")
        grant = doctor.introspect_app(access)
        with pytest.raises(NotAllowedError) as refused:
            doctor.fetch_bytes(condition.record_id, app=grant)
        assert refused.value.code == "app_scope_denied"

    logs = stack.access_logged(first_block + 1)
    app_logs = ctx.chain.access_log.contract.events.AppAccessLogged().get_logs(
        from_block=first_block + 1
    )
    assert len(app_logs) == len(logs) == 2 * len(pressures) + 1  # header + body each, 1 denial
    assert {bytes(e["args"]["clientId"]) for e in app_logs} == {client_id_hash(client_id)}
    assert {bytes(e["args"]["appId"]) for e in app_logs} == {app_id}
    denied = [e for e in logs if not e["granted"]]
    assert [(e["recordId"], e["reasonCode"]) for e in denied] == [
        (bytes.fromhex(condition.record_id[2:]), 15)
    ]

    # the auditor's verification recovers each app read's signer over its AppReadRequest
    with MedLedgerClient(base, account=stack.auditor) as auditor:
        report = auditor.verify_all(from_block=first_block + 1)
        assert report["read_signatures"] == [], report["read_signatures"]
        assert report["checked"]["read_signatures"] >= len(logs)

    # the patient sees the app with its on-chain authorisation and revokes it on chain
    with MedLedgerClient(base, account=stack.patient) as patient:
        (connection,) = patient.app_connections()
        assert connection["reads"] == len(logs)
        assert connection["authorizations"][0]["tx_hash"] == decision["authorization_tx"]
        revoked = patient.revoke_app(app_id)
        assert revoked["revoked_tokens"] == 1
    assert binding.app_revoked_at(patient_address, app_id) > 0

    before = len(stack.access_logged())
    with MedLedgerClient(base, account=stack.cardiologist) as doctor:
        with pytest.raises(AppRefusedError):  # the page: the token is inactive
            doctor.app_search(access, "Observation")
        with pytest.raises(UnauthorizedError) as inactive:  # the API, page bypassed
            doctor.fetch_bytes(pressures[0].record_id, app=grant)
        assert inactive.value.code == "app_token_inactive"
        # and nobody but the patient can authorise the app for this chart again
        launched = doctor.launch_app(app_id, patient_address)
        launch = parse_qs(urlsplit(launched["launch_url"]).query)["launch"][0]
        app, verifier = app_session(base, client_id, SCOPE)
        app.redirect_uri = manifest()["redirect_urls"][0]
        with pytest.raises(NotAllowedError) as blocked:
            doctor.approve_app(authorize_url(app, base, verifier, launch=launch))
        assert blocked.value.code == "MarketplaceAppRevoked"
    assert len(stack.access_logged()) == before  # nothing logged for an inactive token
    seen = app.introspect_token(f"{base}/smart/introspect", token=access)
    assert seen.json() == {"active": False}
    assert json.loads(json.dumps(token))["scope"].split() == SCOPE.split()
