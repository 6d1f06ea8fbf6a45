"""``GET /chain``: public, and the domain it reports is the one ConsentManager accepts."""

from __future__ import annotations

import time

from crypto.signing import DOMAIN_NAME, DOMAIN_VERSION, Consent, Domain, consent_id, sign
from tests.api.conftest import Stack


def test_chain_reports_the_deployment_and_the_consent_domain(api_stack: Stack) -> None:
    response = api_stack.client.get("/chain")  # no Authorization header: public
    assert response.status_code == 200
    body = response.json()
    deployment = api_stack.deployment
    assert body["chain_id"] == deployment.chain_id == api_stack.w3.eth.chain_id
    assert body["contracts"] == deployment.addresses()
    assert body["deployment_block"] == deployment.block_number
    assert body["relayer"] == deployment.relayer
    assert body["break_glass_window_seconds"] == api_stack.settings.break_glass_window_seconds
    assert body["eip712_domain"] == {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": deployment.chain_id,
        "verifyingContract": deployment.address("ConsentManager"),
    }

    # a consent signed in the reported domain is accepted on chain by ConsentManager
    domain = body["eip712_domain"]
    reported = Domain(
        chain_id=domain["chainId"],
        verifying_contract=domain["verifyingContract"],
        name=domain["name"],
        version=domain["version"],
    )
    consent = Consent(
        patient=api_stack.patient.address,
        grantee=api_stack.cardiologist.address,
        expires_at=int(time.time()) + 3600,
        nonce=1,
    )
    signature = sign(reported, consent, api_stack.patient.key)
    receipt = api_stack.ctx.chain.consents.grant_by_sig(consent, signature).wait()
    granted = receipt.event("ConsentGranted").args
    assert granted["consentId"] == consent_id(consent)

    assert "/chain" in api_stack.client.get("/openapi.json").json()["paths"]
