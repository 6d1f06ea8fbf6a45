"""The patient's connected apps in Chromium on a 390-px phone screen
(``e2e/connected_apps.mjs``), against the real API, contracts and OAuth flow.

A Live app installed at 成都市第三人民医院 is connected to the patient's chart by the
cardiologist as in tests/clients/sdk/test_smart_app.py (EHR launch, authlib's OAuth 2 client
with PKCE, the cardiologist's signed ``AppAuthorization``) and reads one Observation through
the cardiologist's client. The patient opens the wallet's 应用 tab: the app with its scopes in
plain language, the cardiologist as the one who authorised it, the transaction, the reads.
They revoke it in the page (the ``AppRevocation`` signed there); the chain then has it
revoked, the API's introspection says the app's token is inactive, and the cardiologist's
page refuses the app. A second tab's stale revocation is refused as already revoked (409),
in plain words. Screenshots: tests/wallet/artifacts/apps-*.png.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from clients.sdk import MedLedgerClient
from clients.sdk.smart_models import AppRefusedError
from tests.api.smart_support import app_session, authorize_url, manifest, open_market
from tests.clients.conftest import LiveStack
from tests.wallet.conftest import ARTIFACTS, ROOT

FLOW = ROOT / "clients" / "webwallet" / "e2e" / "connected_apps.mjs"
SCOPE = "launch openid fhirUser patient/Observation.rs"


def observation(patient: str) -> dict[str, Any]:
    """One blood pressure (the reference app's kind of record)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-11-03T09:00:00+08:00",
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 142, "unit": "mmHg"},
            }
        ],
    }


def run_flow(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(FLOW)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(("STEP ", "FAIL "))]
    assert lines, f"the browser script said nothing: {done.stderr[-2000:]}"
    assert lines[-1].startswith("STEP apps "), lines[-1]
    return json.loads(lines[-1].removeprefix("STEP apps "))


def test_patient_sees_and_revokes_a_connected_app(live_stack: LiveStack, chromium: str) -> None:
    stack = live_stack.stack
    base = live_stack.url
    ctx = live_stack.server.config.app.state.ctx  # the served API's (its relayer, its store)
    market = open_market(stack, ctx)
    app_id = market.publish("bp-chart", manifest())
    market.install(stack.cd3h, app_id)
    patient_address = stack.patient.address
    with MedLedgerClient(base, account=stack.patient) as patient:
        patient.share_fhir(
            observation(patient_address), patient=patient_address, policy="dept:cardiology"
        )
        patient.grant(grantee=stack.cardiologist.address)

    redirect = manifest()["redirect_urls"][0]
    registered = requests.post(
        f"{base}/smart/register",
        json={
            "software_id": "0x" + app_id.hex(),
            "software_version": "1",
            "redirect_uris": [redirect],
        },
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]
    with MedLedgerClient(base, account=stack.cardiologist) as doctor:
        launched = doctor.launch_app(app_id, patient_address)
        launch = parse_qs(urlsplit(launched["launch_url"]).query)["launch"][0]
        app, verifier = app_session(base, client_id, SCOPE)
        app.redirect_uri = redirect
        decision = doctor.approve_app(authorize_url(app, base, verifier, launch=launch))
        token = app.fetch_token(
            f"{base}/smart/token",
            authorization_response=decision["redirect_to"],
            code_verifier=verifier,
        )
        access = token["access_token"]
        assert len(doctor.app_search(access, "Observation")["entry"]) == 1
    assert app.introspect_token(f"{base}/smart/introspect", token=access).json()["active"]

    ARTIFACTS.mkdir(exist_ok=True)
    seen = run_flow(
        {
            "WALLET_URL": f"{base}/wallet/",
            "ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": chromium,
            "PATIENT_KEY": "0x" + bytes(stack.patient.key).hex(),
            "APP_ID": "0x" + app_id.hex(),
        }
    )

    # before: the app, what it may do, who let it in (people, not hex) and where, its reads
    before = seen["before"]
    assert before["state"] == "active"
    assert before["title"] == "已连接应用（1）"
    assert "血压趋势图" in before["name"]
    assert before["scopes"][0] == "读取、搜索您的观察结果（检验结果、生命体征）"
    assert len(before["scopes"]) == 4  # launch, openid, fhirUser too, in plain words
    assert before["authorizationTxs"] == [decision["authorization_tx"]]
    (who,) = before["authorizedBy"]
    assert "心内科 · 成都市第三人民医院" in who
    assert decision["authorization_tx"][:8] in who
    assert before["reads"].startswith("为它读取病历 2 次")  # header and body, logged for the app
    assert before["revokeLabel"] == "撤销 血压趋势图 BP chart"
    assert "立即失效" in seen["confirmText"]
    assert seen["cancelled"] is True

    # after: revoked on chain by the patient's own signature, shown with its transaction
    after = seen["after"]
    assert after["state"] == "revoked"
    assert after["revokeButtons"] == 0
    assert "已撤销" in after["stateLabel"]
    assert "1 个令牌已失效" in seen["notice"]
    market_binding = ctx.chain.marketplace
    revoked_at = market_binding.app_revoked_at(patient_address, app_id)
    assert revoked_at > 0
    receipt = ctx.chain.w3.eth.get_transaction_receipt(after["revocationTx"])
    (event,) = market_binding.contract.events.AppRevoked().process_receipt(receipt)
    assert event["args"]["patient"] == patient_address
    assert bytes(event["args"]["appId"]) == app_id
    assert seen["notice"].count(after["revocationTx"][:8]) == 1

    # the stale second tab: refused as already revoked, in plain words, and shown revoked
    assert "已被撤销" in seen["problem"]
    assert seen["staleState"] == "revoked"
    assert "Connected apps (1)" in seen["english"]
    assert "Read and search your observations" in seen["english"]

    # the API refuses the app's token at once: introspection inactive, the page refuses it
    assert app.introspect_token(f"{base}/smart/introspect", token=access).json() == {
        "active": False
    }
    with (
        MedLedgerClient(base, account=stack.cardiologist) as doctor,
        pytest.raises(AppRefusedError),
    ):
        doctor.app_search(access, "Observation")
    for name in ("list", "confirm", "revoked", "already-revoked", "revoked-en"):
        assert (ARTIFACTS / f"apps-{name}.png").is_file(), name
