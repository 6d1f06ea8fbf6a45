"""Bad input and attackers against the SMART server, each answered with its precise RFC 6749 /
7591 error and nothing written: manifests the server cannot enforce, apps not Live, redirect
URIs and scopes beyond the listing, PKCE mismatches and omissions, a code used twice, tokens
after revocation, a clinician of an institution that did not install the app, launch
contexts of someone else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from storage.models import SmartClient, SmartCode, SmartLaunch, SmartToken
from tests.api.conftest import Stack
from tests.api.live_server import serve
from tests.api.smart_support import (
    CALLBACK,
    World,
    app_session,
    authorize_url,
    make_world,
    manifest,
    page_approves,
    register,
)

SCOPE = "launch/patient patient/Observation.rs"


@pytest.fixture
def world(api_stack: Stack) -> Iterator[World]:
    with serve(api_stack.client.app) as base:
        yield make_world(api_stack, base)


def _refused(response: requests.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    return body


# -- registration ---------------------------------------------------------------------------


def test_a_manifest_with_an_unknown_scope_is_refused_at_registration(world: World) -> None:
    app_id = world.market.publish(
        "sneaky", manifest("sneaky", scopes=["patient/Observation.rs", "admin/everything.all"])
    )
    body = _refused(register(world.base, app_id), 400, "invalid_client_metadata")
    assert "admin/everything.all" in body["error_description"]
    assert world.count(SmartClient) == 0


@pytest.mark.parametrize(
    ("votes", "reject", "status"), [(2, False, "In Review"), (1, True, "Rejected")]
)
def test_an_app_not_live_cannot_register(
    world: World, votes: int, reject: bool, status: str
) -> None:
    app_id = world.market.publish("pending", manifest("pending"), votes=votes, reject=reject)
    body = _refused(register(world.base, app_id), 400, "invalid_client_metadata")
    assert status in body["error_description"]
    unknown = register(world.base, b"\x01" * 32)
    _refused(unknown, 400, "invalid_client_metadata")
    assert world.count(SmartClient) == 0


def test_registration_stays_within_the_manifest(world: World) -> None:
    _refused(
        register(world.base, world.app_id, redirect_uris=["https://evil.example/cb"]),
        400,
        "invalid_redirect_uri",
    )
    _refused(
        register(world.base, world.app_id, scope="patient/Observation.rs patient/Condition.rs"),
        400,
        "invalid_client_metadata",
    )
    _refused(
        register(world.base, world.app_id, token_endpoint_auth_method="client_secret_basic"),
        400,
        "invalid_client_metadata",
    )
    _refused(
        register(world.base, world.app_id, software_version="x"), 400, "invalid_client_metadata"
    )
    assert world.count(SmartClient) == 0


def test_a_tampered_manifest_in_the_store_is_refused(world: World) -> None:
    """The listing's URI points at a document whose digest is not the approved one."""
    import json

    from ledger_api.chain import marketplace as mk
    from tests.api.smart_support import FAR

    market = world.market
    app_id = b"\x07" * 32
    approved = manifest("tampered")
    wider = manifest("tampered", scopes=["user/*.cruds"])
    cid = world.stack.ctx.store.put(json.dumps(wider).encode())
    sub = mk.submission(
        app_id=app_id, version=1, manifest=approved, manifest_uri=f"ipfs://{cid}", deadline=FAR
    )
    market.binding.submit_app(
        message=sub, signature=market.binding.sign_as(market.vendor, sub)
    ).wait()
    for account in market.admins.values():
        vote = mk.approval(app_id=app_id, version=1, deadline=FAR)
        market.binding.vote(message=vote, signature=market.binding.sign_as(account, vote)).wait()
    body = _refused(
        register(world.base, app_id, redirect_uris=["https://apps.example.cn/tampered/callback"]),
        400,
        "invalid_client_metadata",
    )
    assert "digest" in body["error_description"]
    assert world.count(SmartClient) == 0


# -- authorisation ----------------------------------------------------------------------------


def test_an_unregistered_redirect_uri_is_refused_without_redirecting(world: World) -> None:
    client_id = world.client_id()
    session, verifier = app_session(world.base, client_id, SCOPE)
    session.redirect_uri = "https://evil.example/cb"
    url = authorize_url(session, world.base, verifier)
    body = _refused(
        requests.get(url, headers=world.headers(world.stack.patient), timeout=10),
        400,
        "invalid_request",
    )
    assert "redirect_to" not in body  # never send the user to an unregistered URI
    assert world.count(SmartCode) == 0


def test_pkce_is_required_and_s256_only(world: World) -> None:
    client_id = world.client_id()
    mine = world.headers(world.stack.patient)
    base = f"{world.base}/smart/authorize?response_type=code&client_id={client_id}"
    base += f"&redirect_uri={CALLBACK}&scope=launch/patient&state=s1"
    _refused(requests.get(base, headers=mine, timeout=10), 400, "invalid_request")
    plain = base + "&code_challenge=" + "a" * 43 + "&code_challenge_method=plain"
    _refused(requests.get(plain, headers=mine, timeout=10), 400, "invalid_request")
    _refused(requests.post(plain, headers=mine, json={}, timeout=10), 400, "invalid_request")
    assert world.count(SmartCode) == 0


def test_an_unknown_scope_is_invalid_scope_and_an_undeclared_one_is_dropped(world: World) -> None:
    client_id = world.client_id()
    mine = world.headers(world.stack.patient)
    session, verifier = app_session(world.base, client_id, "patient/Observation.fly")
    _refused(
        requests.get(authorize_url(session, world.base, verifier), headers=mine, timeout=10),
        400,
        "invalid_scope",
    )
    session, verifier = app_session(
        world.base, client_id, "launch/patient patient/Observation.read patient/Condition.rs"
    )
    shown, answer = page_approves(
        world, authorize_url(session, world.base, verifier), world.stack.patient
    )
    assert [s["scope"] for s in shown["scopes"]] == ["launch/patient", "patient/Observation.rs"]
    token = session.fetch_token(
        f"{world.base}/smart/token",
        authorization_response=answer.json()["redirect_to"],
        code_verifier=verifier,
    )
    assert (
        token["scope"] == "launch/patient patient/Observation.rs"
    )  # v1 .read mapped, Condition dropped


def test_a_user_can_only_narrow_the_scopes(world: World) -> None:
    client_id = world.client_id()
    session, verifier = app_session(world.base, client_id, SCOPE)
    _, answer = page_approves(
        world,
        authorize_url(session, world.base, verifier),
        world.stack.patient,
        {"scopes": ["launch/patient", "user/*.cruds"]},
    )
    token = session.fetch_token(
        f"{world.base}/smart/token",
        authorization_response=answer.json()["redirect_to"],
        code_verifier=verifier,
    )
    assert token["scope"] == "launch/patient"


def test_a_pkce_verifier_that_does_not_match_gets_no_token(world: World) -> None:
    client_id = world.client_id()
    session, verifier = app_session(world.base, client_id, SCOPE)
    _, answer = page_approves(
        world, authorize_url(session, world.base, verifier), world.stack.patient
    )
    from urllib.parse import parse_qs, urlsplit

    code = parse_qs(urlsplit(answer.json()["redirect_to"]).query)["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": client_id,
    }
    wrong = requests.post(
        f"{world.base}/smart/token", data={**exchange, "code_verifier": "b" * 64}, timeout=10
    )
    _refused(wrong, 400, "invalid_grant")
    _refused(
        requests.post(f"{world.base}/smart/token", data=exchange, timeout=10),
        400,
        "invalid_request",
    )
    assert world.count(SmartToken) == 0
    # the right verifier still works once; a second use is refused and revokes the first token
    good = requests.post(
        f"{world.base}/smart/token", data={**exchange, "code_verifier": verifier}, timeout=10
    )
    assert good.status_code == 200, good.text
    again = requests.post(
        f"{world.base}/smart/token", data={**exchange, "code_verifier": verifier}, timeout=10
    )
    _refused(again, 400, "invalid_grant")
    assert world.count(SmartToken) == 1
    seen = session.introspect_token(
        f"{world.base}/smart/introspect", token=good.json()["access_token"]
    )
    assert seen.json() == {"active": False}


def test_a_token_revoked_by_the_app_is_inactive(world: World) -> None:
    client_id = world.client_id()
    session, verifier = app_session(world.base, client_id, SCOPE)
    _, answer = page_approves(
        world, authorize_url(session, world.base, verifier), world.stack.patient
    )
    token = session.fetch_token(
        f"{world.base}/smart/token",
        authorization_response=answer.json()["redirect_to"],
        code_verifier=verifier,
    )
    introspect = f"{world.base}/smart/introspect"
    assert session.introspect_token(introspect, token=token["access_token"]).json()["active"]
    other_client = world.client_id()
    peek = requests.post(
        introspect, data={"token": token["access_token"], "client_id": other_client}, timeout=10
    )
    assert peek.json() == {"active": False}  # another app cannot introspect it
    revoked = session.revoke_token(f"{world.base}/smart/revoke", token=token["access_token"])
    assert revoked.status_code == 200
    assert session.introspect_token(introspect, token=token["access_token"]).json() == {
        "active": False
    }


def test_a_clinician_whose_institution_did_not_install_is_refused(world: World) -> None:
    stack = world.stack
    client_id = world.client_id()
    gp = world.headers(stack.gp)  # qyqchc did not install bp-chart
    launched = requests.post(
        f"{world.base}/smart/launch",
        headers=gp,
        json={"client_id": client_id, "patient": stack.patient.address},
        timeout=10,
    )
    body = _refused(launched, 403, "access_denied")
    assert "not installed" in body["error_description"]
    session, verifier = app_session(world.base, client_id, SCOPE)
    url = authorize_url(session, world.base, verifier)
    _refused(requests.get(url, headers=gp, timeout=10), 403, "access_denied")
    _refused(
        requests.post(url, headers=gp, json={"patient": stack.patient.address}, timeout=10),
        403,
        "access_denied",
    )
    assert world.count(SmartLaunch) == 0
    assert world.count(SmartCode) == 0


def test_a_launch_context_is_bound_to_its_user_and_a_patient_launches_only_their_own(
    world: World,
) -> None:
    stack = world.stack
    client_id = world.client_id()
    launched = requests.post(
        f"{world.base}/smart/launch",
        headers=world.headers(stack.cardiologist),
        json={"client_id": client_id, "patient": stack.patient.address},
        timeout=10,
    )
    launch = launched.json()["launch"]
    session, verifier = app_session(world.base, client_id, "launch patient/Observation.rs")
    url = authorize_url(session, world.base, verifier, launch=launch)
    _refused(
        requests.get(url, headers=world.headers(stack.other_patient), timeout=10),
        400,
        "invalid_request",
    )
    _refused(
        requests.post(
            f"{world.base}/smart/launch",
            headers=world.headers(stack.other_patient),
            json={"client_id": client_id, "patient": stack.patient.address},
            timeout=10,
        ),
        403,
        "access_denied",
    )
    assert world.count(SmartLaunch) == 1
    assert world.count(SmartCode) == 0


def test_the_consent_step_needs_a_session(world: World) -> None:
    client_id = world.client_id()
    session, verifier = app_session(world.base, client_id, SCOPE)
    url = authorize_url(session, world.base, verifier)
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.post(url, json={}, timeout=10).status_code == 401
    assert world.count(SmartCode) == 0


def test_a_suspended_app_gets_no_new_token_nor_a_refresh(world: World) -> None:
    from crypto.signing import AdministratorRole, StatusAction
    from ledger_api.chain import marketplace as mk
    from tests.api.smart_support import FAR

    stack = world.stack
    client_id = world.client_id()
    session, verifier = app_session(world.base, client_id, "launch/patient offline_access")
    doctor = world.headers(stack.cardiologist)
    _, answer = page_approves(
        world,
        authorize_url(session, world.base, verifier),
        stack.cardiologist,
        {"patient": stack.patient.address},
    )
    token = session.fetch_token(
        f"{world.base}/smart/token",
        authorization_response=answer.json()["redirect_to"],
        code_verifier=verifier,
    )
    binding = world.market.binding
    stop = mk.status_change(
        app_id=world.app_id, version=1, action=StatusAction.SUSPEND, reason="recall", deadline=FAR
    )
    provider = world.market.admins[AdministratorRole.PLATFORM_PROVIDER]
    binding.change_status(message=stop, signature=binding.sign_as(provider, stop)).wait()
    refreshed = requests.post(
        f"{world.base}/smart/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": client_id,
        },
        timeout=10,
    )
    body = _refused(refreshed, 400, "invalid_grant")
    assert "not Live" in body["error_description"]
    session, verifier = app_session(world.base, client_id, "launch/patient")
    url = authorize_url(session, world.base, verifier)
    _refused(requests.get(url, headers=doctor, timeout=10), 403, "access_denied")
    assert world.count(SmartToken) == 1
    assert world.count(SmartCode) == 1
