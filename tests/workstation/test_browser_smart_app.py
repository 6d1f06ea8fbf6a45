"""A SMART app launched from the workstation's chart, in a real browser (Debian's chromium).

The reference app (``clients/smartapps/bp_chart``, served by the API at ``/apps/bp_chart/``) is
listed on the marketplace with its manifest filled for ``http://localhost:<port>`` — another
origin than the workstation's ``http://127.0.0.1:<port>``: the vendor submits it, the three
administrators approve it (Live), and cd3h installs it, each a signed call on chain. The GP
shares three blood-pressure Observations (and a Condition) of the patient, and the patient
consents to the cardiologist reading each Observation.

``clients/workstation/e2e/smart_app_flow.mjs`` then drives the cardiologist's browser: the
chart, Apps (应用), Launch → the app registers and asks for authorisation → the consent
dialog in the workstation, approved (AppAuthorization signed in the page) → the app draws the
chart from the values the page decrypted for it. The script then waits; the patient revokes
the app on chain here (``AppRevocation`` signed in Python, ``POST /smart/apps/{id}/revoke``),
and the app's next request is refused, which it shows. Last, the patient's wallet lists the
app under Connected apps (已连接应用): revoked, with who authorised it and the transaction.

Screenshots of every step: ``tests/workstation/artifacts/smart-*.png`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from clients import smartapps
from clients.sdk import MedLedgerClient
from clients.sdk.wallet import WalletStore
from crypto.keys import SCRYPT_MIN_LOG2_N
from crypto.signing import AdministratorRole
from ledger_api.chain import marketplace as mk
from ledger_api.chain.marketplace import Marketplace
from tests.api.smart_support import FAR
from tests.wallet.conftest import wallet_dist  # noqa: F401  (the patient's wallet, built)
from tests.workstation.conftest import ARTIFACTS, ROOT, LiveStack

FLOW = ROOT / "clients" / "workstation" / "e2e" / "smart_app_flow.mjs"
PASSWORD = "correct horse battery"
READINGS = [("2026-09-14", 152, 96), ("2026-10-20", 144, 92), ("2026-11-25", 136, 86)]
LOINC = "http://loinc.org"


@pytest.fixture
def stack_settings(workstation_dist: Path, wallet_dist: Path) -> dict[str, Any]:  # noqa: F811
    return {"workstation_dir": workstation_dist, "wallet_dir": wallet_dist}


def blood_pressure(date: str, systolic: int, diastolic: int, patient: str) -> dict[str, Any]:
    """A FHIR R4 blood-pressure panel (LOINC 85354-9) with its two components."""

    def component(code: str, display: str, value: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": {
                "value": value,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }

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
        "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": f"{date}T09:30:00+08:00",
        "component": [
            component("8480-6", "Systolic blood pressure", systolic),
            component("8462-4", "Diastolic blood pressure", diastolic),
        ],
    }


def list_and_install(live: LiveStack, document: dict[str, Any], app_id: bytes) -> None:
    """The app listed Live (vendor's submission, three administrators' votes) and installed
    by cd3h, each signed by the person acting; the manifest uploaded as the vendor."""
    stack = live.stack
    market = Marketplace(
        stack.w3, stack.deployment.address("Marketplace"), sender=stack.admin_consortium.sender
    )
    vendor = Account.create()
    admins = {role: Account.create() for role in AdministratorRole}
    change = mk.vendor_change(vendor=vendor.address, enrolled=True, deadline=FAR)
    market.set_vendor(message=change, signature=b"").wait()  # the sender is the actor
    for role, account in admins.items():
        admin = mk.administrator_change(role=role, account=account.address, deadline=FAR)
        market.set_administrator(message=admin, signature=b"").wait()
    with MedLedgerClient(live.url, account=vendor) as client:
        client.login()
        uploaded = httpx.post(
            f"{live.url}/marketplace/manifests",
            json=document,
            headers={"authorization": f"Bearer {client.token}"},
            timeout=30,
        )
    assert uploaded.status_code == 201, uploaded.text
    version = int(smartapps.software()["software_version"])
    sub = mk.submission(
        app_id=app_id,
        version=version,
        manifest=document,
        manifest_uri=uploaded.json()["uri"],
        deadline=FAR,
    )
    market.submit_app(message=sub, signature=market.sign_as(vendor, sub)).wait()
    for account in admins.values():
        ballot = mk.approval(app_id=app_id, version=version, deadline=FAR)
        market.vote(message=ballot, signature=market.sign_as(account, ballot)).wait()
    assert market.live_version_of(app_id) == version
    install = mk.installation(institution_id=stack.cd3h, app_id=app_id, install=True, deadline=FAR)
    market.set_installation(message=install, signature=market.sign_as(stack.admin, install)).wait()
    assert market.is_installed(stack.cd3h, app_id)


def revoke_app(live: LiveStack, patient: Any, app_id: bytes) -> dict[str, Any]:
    """The patient's AppRevocation, signed here as a wallet would (eth_signTypedData_v4) and
    posted with the patient's session."""
    with MedLedgerClient(live.url, account=patient) as client:
        client.login()
        headers = {"authorization": f"Bearer {client.token}"}
        sign = httpx.get(f"{live.url}/smart/connections", headers=headers, timeout=30).json()
        nonce, deadline = secrets.randbits(128), int(time.time()) + 600
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "AppRevocation": [
                    {"name": "patient", "type": "address"},
                    {"name": "appId", "type": "bytes32"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "AppRevocation",
            "domain": {
                "name": "MedLedger Marketplace",
                "version": "1",
                "chainId": int(sign["sign"]["chain_id"]),
                "verifyingContract": sign["sign"]["verifying_contract"],
            },
            "message": {
                "patient": patient.address,
                "appId": app_id,
                "nonce": nonce,
                "deadline": deadline,
            },
        }
        signature = Account.sign_message(encode_typed_data(full_message=typed), patient.key)
        answer = httpx.post(
            f"{live.url}/smart/apps/0x{app_id.hex()}/revoke",
            json={
                "nonce": str(nonce),
                "deadline": deadline,
                "signature": "0x" + signature.signature.hex().removeprefix("0x"),
            },
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        revoked: dict[str, Any] = answer.json()
        connections = httpx.get(f"{live.url}/smart/connections", headers=headers, timeout=30)
        revoked["connections"] = connections.json()["connections"]
    return revoked


def test_smart_app_in_chromium(live_stack: LiveStack, chromium: str, tmp_path: Path) -> None:
    stack = live_stack.stack
    patient_address = stack.patient.address
    app_origin = live_stack.url.replace("127.0.0.1", "localhost")  # another origin, same server
    app_base = smartapps.served_at(app_origin)
    document = smartapps.manifest(app_base)
    app_id = bytes.fromhex(smartapps.software()["software_id"].removeprefix("0x"))
    served = httpx.get(f"{app_base}/launch.html", timeout=30)
    assert served.status_code == 200, f"the API serves the reference app at {app_base}/"
    list_and_install(live_stack, document, app_id)

    with (
        MedLedgerClient(live_stack.url, account=stack.gp) as gp,
        MedLedgerClient(live_stack.url, account=stack.patient) as patient,
    ):
        for date, systolic, diastolic in READINGS:
            shared = gp.share_fhir(
                blood_pressure(date, systolic, diastolic, patient_address),
                patient=patient_address,
                policy="dept:cardiology",
            )
            patient.grant(grantee=stack.cardiologist.address, record_id=shared.record_id)

    store = WalletStore(tmp_path / "wallets", scrypt_log2_n=SCRYPT_MIN_LOG2_N)
    keystores = {
        name: store.import_key(name, "0x" + who.key.hex().removeprefix("0x"), PASSWORD).path
        for name, who in (("li-ming", stack.cardiologist), ("patient", stack.patient))
    }
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("smart-*.png"):
        old.unlink()
    browser = subprocess.Popen(
        ["node", str(FLOW)],
        cwd=ROOT,
        env={
            **os.environ,
            "WS_URL": f"{live_stack.url}/workstation/",
            "ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": chromium,
            "PASSWORD": PASSWORD,
            "WALLET_URL": f"{live_stack.url}/wallet/",
            "CARDIO_KEYSTORE": str(keystores["li-ming"]),
            "PATIENT_KEYSTORE": str(keystores["patient"]),
            "PATIENT": patient_address,
            "APP_ID": "0x" + app_id.hex(),
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert browser.stdin is not None
    assert browser.stdout is not None
    lines: list[str] = []
    revoked: dict[str, Any] | None = None
    try:
        for line in browser.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("WAITING revoke"):
                revoked = revoke_app(live_stack, stack.patient, app_id)
                browser.stdin.write("revoked\n")
                browser.stdin.flush()
        browser.wait(timeout=600)
    finally:
        if browser.poll() is None:
            browser.kill()
    stderr = browser.stderr.read() if browser.stderr else ""
    ends = [line for line in lines if line.startswith(("RESULT ", "FAIL "))]
    assert ends, "the browser script printed nothing:\n" + "\n".join(lines) + stderr
    if ends[-1].startswith("FAIL "):
        pytest.fail(f"the browser failed: {ends[-1][5:]}\n{stderr[-3000:]}")
    result = json.loads(ends[-1][7:])
    assert result["problems"] == []

    # the app ran from another origin than the page, and could not reach into it
    assert result["pageOrigin"] == live_stack.url
    assert result["frameUrl"].startswith(f"{app_base}/index.html")
    assert result["appReachesParent"] is False
    # the consent dialog: the app, the patient, every scope in plain language
    assert "血压趋势图" in result["consentTitle"]
    assert result["consentPatient"].lower() == patient_address.lower()
    scopes = " ".join(result["consentScopes"])
    assert "patient/Observation.rs" in scopes
    assert result["listUnlabelled"] == []
    assert result["consentUnlabelled"] == []
    assert "0x" in result["notice"]  # the AppAuthorization's transaction
    # the chart: the three readings the page decrypted for the app, values and units
    assert len(result["rows"]) == 3, result["rows"]
    for (_, systolic, diastolic), row in zip(READINGS, result["rows"], strict=True):
        assert str(systolic) in row
        assert str(diastolic) in row
        assert "mmHg" in row
    assert result["points"] == 6
    assert result["appTitle"] == "血压趋势图"
    # after the patient's revocation on chain, the app's next request is refused
    assert revoked is not None
    assert revoked["tx_hash"].startswith("0x")
    (connection,) = [c for c in revoked["connections"] if c["app_id"] == "0x" + app_id.hex()]
    assert connection["revoked_at"] > 0
    assert connection["reads"] >= 3
    assert "请求被拒绝" in result["refusal"]
    assert result["rowsAfter"] == 0
    assert result["pageRefused"]
    # the patient's wallet: the app under Connected apps, revoked, with who authorised it
    assert result["walletRevoked"] == "true"
    assert result["walletRevokeButtons"] == 0
    assert "血压趋势图" in result["walletApp"]
    assert "已于" in result["walletApp"]
    assert connection["authorizations"][0]["tx_hash"][:8] in result["walletApp"]
    shots = sorted(p.name for p in ARTIFACTS.glob("smart-*.png"))
    assert len(shots) >= 6, shots
    assert not [s for s in shots if "failure" in s], shots
