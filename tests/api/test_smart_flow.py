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
    shown, answer = page_approves(url, doctor)
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
    shown, answer = page_approves(authorize_url(session, world.base, verifier), mine)
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
    assert [c["client_id"] for c in listed["connections"]] == [client_id]
    assert listed["connections"][0]["active"] is True

    # someone else cannot revoke it for them
    other = requests.post(
        f"{world.base}/smart/connections/{client_id}/revoke",
        headers=world.headers(stack.other_patient),
        timeout=10,
    )
    assert other.status_code == 404
    revoked = requests.post(
        f"{world.base}/smart/connections/{client_id}/revoke", headers=mine, timeout=10
    )
    assert revoked.status_code == 200
    assert revoked.json() == {"revoked": 1}
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


def test_standalone_launch_by_a_clinician_picks_the_patient(world: World) -> None:
    stack = world.stack
    client_id = world.client_id()
    session, verifier = app_session(world.base, client_id, "launch/patient patient/Observation.rs")
    doctor = world.headers(stack.cardiologist)
    shown, answer = page_approves(
        authorize_url(session, world.base, verifier), doctor, {"patient": stack.patient.address}
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
