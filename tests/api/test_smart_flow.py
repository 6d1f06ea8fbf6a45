"""SMART App Launch against the real stack: a Live app registered by RFC 7591, then driven by
authlib's OAuth 2 client (PKCE S256) through an EHR launch by a clinician of the installing
institution, a stand-alone launch by a patient and by a clinician, refresh, introspection by
the app and by the user's page, and a patient revoking the app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from crypto.signing import client_id_hash
from storage.models import SmartEvent, SmartToken
from tests.api.conftest import Stack
from tests.api.live_server import serve
from tests.api.smart_support import (
    CALLBACK,
    World,
    app_session,
    authorize_url,
    make_world,
    page_approves,
    signed_revocation,
)

EHR_SCOPE = "launch openid fhirUser offline_access patient/Observation.rs"


@pytest.fixture
def world(api_stack: Stack) -> Iterator[World]:
    with serve(api_stack.client.app) as base:
        yield make_world(api_stack, base)


def id_claims(world: World, token: dict) -> dict:
    keys = KeySet.import_key_set(requests.get(f"{world.base}/smart/jwks", timeout=10).json())
    return dict(jwt.decode(token["id_token"], keys).claims)


def test_discovery_lists_the_smart_2_2_fields(world: World) -> None:
    config = requests.get(f"{world.base}/.well-known/smart-configuration", timeout=10).json()
    assert config["code_challenge_methods_supported"] == ["S256"]
    for capability in ("launch-ehr", "launch-standalone", "permission-v2", "sso-openid-connect"):
        assert capability in config["capabilities"]
    for key in ("registration_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert config[key].startswith(world.base + "/smart/")
    assert config["grant_types_supported"] == ["authorization_code", "refresh_token"]


def test_ehr_launch_by_a_clinician_of_the_installing_institution(world: World) -> None:
    stack = world.stack
    registered = requests.post(
        f"{world.base}/smart/register",
        json={
            "software_id": "0x" + world.app_id.hex(),
            "software_version": "1",
            "redirect_uris": [CALLBACK],
        },
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    client = registered.json()
    assert "client_secret" not in client  # public app (manifest client_type)
    assert client["token_endpoint_auth_method"] == "none"
    client_id = client["client_id"]

    doctor = world.headers(stack.cardiologist)
    launched = requests.post(
        f"{world.base}/smart/launch",
        headers=doctor,
        json={"client_id": client_id, "patient": stack.patient.address},
        timeout=30,
    )
    assert launched.status_code == 200, launched.text
    launch = launched.json()["launch"]
    assert f"launch={launch}" in launched.json()["launch_url"]

    session, verifier = app_session(world.base, client_id, EHR_SCOPE)
    url = authorize_url(session, world.base, verifier, launch=launch)
    shown, answer = page_approves(world, url, stack.cardiologist)
    assert shown["patient"] == stack.patient.address
    assert shown["app"]["name"] == "血压趋势图 BP chart"
    observation = next(s for s in shown["scopes"] if s["scope"] == "patient/Observation.rs")
    assert "Observation" in observation["en"]
    assert "读取" in observation["zh-CN"]
    assert answer.status_code == 200, answer.text
    redirect = answer.json()["redirect_to"]
    assert redirect.startswith(CALLBACK + "?code=")

    token = session.fetch_token(
        f"{world.base}/smart/token", authorization_response=redirect, code_verifier=verifier
    )
    assert token["patient"] == stack.patient.address
    assert set(token["scope"].split()) == set(EHR_SCOPE.split())
    assert token["refresh_token"]
    claims = id_claims(world, token)
    assert claims["aud"] == [client_id] or claims["aud"] == client_id
    assert claims["fhirUser"] == f"{world.base}/fhir/Practitioner/{stack.cardiologist.address}"

    # the app introspects its own token; the page introspects it with the user's session
    seen = session.introspect_token(f"{world.base}/smart/introspect", token=token["access_token"])
    assert seen.json()["active"] is True
    assert seen.json()["patient"] == stack.patient.address
    by_page = requests.post(
        f"{world.base}/smart/introspect",
        headers=doctor,
        data={"token": token["access_token"]},
        timeout=10,
    )
    assert by_page.json()["active"] is True
    assert by_page.json()["client_id"] == client_id
    stranger = requests.post(
        f"{world.base}/smart/introspect",
        headers=world.headers(stack.other_patient),
        data={"token": token["access_token"]},
        timeout=10,
    )
    assert stranger.json() == {"active": False}

    # refresh rotates: the new token works, the old one is gone
    old = token["access_token"]
    fresh = session.refresh_token(f"{world.base}/smart/token")
    assert fresh["access_token"] != old
    assert fresh["patient"] == stack.patient.address
    gone = session.introspect_token(f"{world.base}/smart/introspect", token=old)
    assert gone.json() == {"active": False}
    kinds = [k for k in _events(world)]
    assert kinds.count("token_issued") == 1
    assert kinds.count("token_refreshed") == 1


def _events(world: World) -> list[str]:
    import sqlalchemy as sa

    with world.stack.ctx.sessions() as db:
        return list(db.scalars(sa.select(SmartEvent.kind).order_by(SmartEvent.id)))


def test_standalone_launch_by_a_patient_then_the_patient_revokes_the_app(world: World) -> None:
    stack = world.stack
    client_id = world.client_id()
    session, verifier = app_session(
        world.base,
        client_id,
        "launch/patient openid fhirUser offline_access patient/Observation.rs",
    )
    mine = world.headers(stack.patient)
    shown, answer = page_approves(
        world, authorize_url(session, world.base, verifier), stack.patient
    )
    assert shown["patient"] == stack.patient.address
    assert shown["patient_picker"] is False
    token = session.fetch_token(
        f"{world.base}/smart/token",
        authorization_response=answer.json()["redirect_to"],
        code_verifier=verifier,
    )
    assert token["patient"] == stack.patient.address
    assert id_claims(world, token)["fhirUser"].endswith(f"/Patient/{stack.patient.address}")

    listed = requests.get(f"{world.base}/smart/connections", headers=mine, timeout=10).json()
    assert [c["clients"] for c in listed["connections"]] == [[client_id]]
    connection = listed["connections"][0]
    assert connection["active"] is True
    assert connection["revoked_at"] == 0
    # the approval is on chain, signed by the patient, with the app's hashed client id
    (authorization,) = connection["authorizations"]
    assert authorization["issued_at"] == connection["last_issued_at"]  # its one token
    receipt = stack.ctx.chain.w3.eth.get_transaction_receipt(authorization["tx_hash"])
    (event,) = stack.ctx.chain.marketplace.contract.events.AppAuthorized().process_receipt(receipt)
    assert event["args"]["user"] == stack.patient.address
    assert event["args"]["clientId"] == client_id_hash(client_id)
    revoke_url = f"{world.base}/smart/apps/0x{world.app_id.hex()}/revoke"

    # someone else cannot revoke it for them, nor can the relayer without their signature
    forged = signed_revocation(
        world.market, stack.patient, world.app_id, signer=stack.other_patient
    )
    other = requests.post(revoke_url, headers=mine, json=forged, timeout=10)
    assert other.status_code == 403, other.text
    assert stack.ctx.chain.marketplace.app_revoked_at(stack.patient.address, world.app_id) == 0
    theirs = requests.post(
        revoke_url,
        headers=world.headers(stack.other_patient),
        json=signed_revocation(world.market, stack.patient, world.app_id),
        timeout=10,
    )
    assert theirs.status_code == 403, theirs.text
    revoked = requests.post(
        revoke_url,
        headers=mine,
        json=signed_revocation(world.market, stack.patient, world.app_id),
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_tokens"] == 1
    assert stack.ctx.chain.marketplace.app_revoked_at(stack.patient.address, world.app_id) > 0
    again = requests.post(
        revoke_url,
        headers=mine,
        json=signed_revocation(world.market, stack.patient, world.app_id),
        timeout=10,
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "MarketplaceAppAlreadyRevoked"
    seen = session.introspect_token(f"{world.base}/smart/introspect", token=token["access_token"])
    assert seen.json() == {"active": False}
    page = requests.post(
        f"{world.base}/smart/introspect", headers=mine, data={"token": token["access_token"]}
    )
    assert page.json() == {"active": False}
    refreshed = requests.post(
        f"{world.base}/smart/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": client_id,
        },
        timeout=10,
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    listed = requests.get(f"{world.base}/smart/connections", headers=mine, timeout=10).json()
    assert listed["connections"][0]["active"] is False
    assert listed["connections"][0]["revoked_at"] > 0
    assert listed["connections"][0]["revocation_tx"] == revoked.json()["tx_hash"]


def test_standalone_launch_by_a_clinician_picks_the_patient(world: World) -> None:
    stack = world.stack
    client_id = world.client_id()
    session, verifier = app_session(world.base, client_id, "launch/patient patient/Observation.rs")
    shown, answer = page_approves(
        world,
        authorize_url(session, world.base, verifier),
        stack.cardiologist,
        {"patient": stack.patient.address},
    )
    assert shown["patient"] is None
    assert shown["patient_picker"] is True
    token = session.fetch_token(
        f"{world.base}/smart/token",
        authorization_response=answer.json()["redirect_to"],
        code_verifier=verifier,
    )
    assert token["patient"] == stack.patient.address
    assert "refresh_token" not in token  # neither offline_access nor online_access
    assert world.count(SmartToken) == 1
