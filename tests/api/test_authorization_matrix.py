"""Every endpoint × every role → the expected status, and every content read is on chain.

The table below must classify every route the app serves: a new endpoint fails this test
until someone decides, in one place, who may call it. Roles:

- ``anonymous`` — no token;
- ``patient`` — owns the chart under test (one record, shared by the patient);
- ``other_patient`` — a patient with no relation to that chart;
- ``doctor_with_consent`` — the cardiologist, holding the patient's whole-chart consent;
- ``doctor_without_consent`` — the GP of another institution, holding nothing;
- ``auditor`` — an auditor member of cd3h;
- ``admin`` — the consortium admin (no member role of their own).

Then the on-chain ``AccessLog`` is read with web3: each header/body read attempt of a signed-in
caller (granted or denied) is exactly one ``AccessLogged`` event with the matching outcome;
anonymous attempts, refused before any decision, leave none.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from fastapi.routing import APIRoute
from starlette.routing import Route

from crypto import siwe
from crypto.patient_key import registration_typed_data
from crypto.signing import AppVote, Consent
from tests.api.conftest import Stack
from tests.api.marketplace_api_support import Market, as_json, manifest
from tests.api.workflow_support import MatrixWorkflows

ROLES = (
    "anonymous",
    "patient",
    "other_patient",
    "doctor_with_consent",
    "doctor_without_consent",
    "auditor",
    "admin",
)


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def signed_in(status: int, **exceptions: int) -> dict[str, int]:
    """``status`` for every signed-in role, 401 for anonymous, unless listed otherwise."""
    table = dict.fromkeys(ROLES, status)
    table["anonymous"] = 401
    table.update(exceptions)
    return table


OVERSEERS_ONLY = signed_in(
    403, auditor=200, admin=200
)  # audit endpoints: auditors and consortium admin
CHART_READERS = signed_in(200, other_patient=403, doctor_without_consent=403)
CONTENT_READERS = signed_in(
    200, other_patient=403, doctor_without_consent=403, auditor=403, admin=403
)


def doctors_only(status: int) -> dict[str, int]:
    """``status`` for both doctors, 403 for every other signed-in role."""
    return signed_in(403, doctor_with_consent=status, doctor_without_consent=status)


def only(**allowed: int) -> dict[str, int]:
    """403 for every signed-in role but the one named (the party of a workflow move)."""
    return signed_in(403, **allowed)


MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/healthz"): everyone(200),
    ("GET", "/readyz"): everyone(200),
    ("GET", "/metrics"): everyone(200),
    ("GET", "/openapi.json"): everyone(200),
    ("GET", "/docs"): everyone(200),
    ("GET", "/docs/oauth2-redirect"): everyone(200),
    ("GET", "/redoc"): everyone(200),
    ("POST", "/auth/nonce"): everyone(200),
    # "anonymous" here is a caller whose message nobody signed: refused
    ("POST", "/auth/login"): signed_in(200),
    ("POST", "/auth/logout"): signed_in(204),
    ("GET", "/auth/me"): signed_in(200),
    # clinicians author for any patient, patients for themselves; nobody else
    ("POST", "/records"): signed_in(201, other_patient=403, auditor=403, admin=403),
    ("GET", "/patients/{address}/records"): CHART_READERS,
    # the patient, auditors, and clinicians something of the chart concerns (the GP here:
    # the referrals and consultations it sent)
    ("GET", "/patients/{address}/timeline"): signed_in(200, other_patient=403),
    ("GET", "/records/{record_id}"): CHART_READERS,
    ("GET", "/records/{record_id}/header"): CONTENT_READERS,
    ("GET", "/records/{record_id}/body"): CONTENT_READERS,
    # the patient's own upload: only the patient manages it (institution 0 has no clinicians)
    ("POST", "/records/{record_id}/rekey"): only(patient=200),
    # any signed-in caller may relay a patient's signature (the signature authorises)
    ("POST", "/consents"): signed_in(201),
    ("POST", "/consents/revocations"): signed_in(200),
    ("GET", "/consents"): signed_in(
        200, other_patient=403, doctor_with_consent=403, doctor_without_consent=403
    ),
    # institution authorities (issue 16): the directory is public; anyone may relay a
    # patient's signed key registration (the contract checks the signature)
    ("GET", "/keys/authorities"): everyone(200),
    ("POST", "/patient-keys"): everyone(200),
    # same-origin relays of an authority's public key and of a member's signed key request
    # (the web apps): public, as the authority itself is; this stack's institutions registered
    # their authorities (the scenario's records are written for them) at a URL nothing serves,
    # so the relays answer 502 authority_unreachable to everyone, after no access check
    ("GET", "/keys/authorities/{institution}/public-key"): everyone(502),
    ("POST", "/keys/authorities/{institution}/keys"): everyone(502),
    # the emergency key from the chain (none made in this stack) and the relay of a
    # clinician's signed share request: public too (the authority checks the request)
    ("GET", "/keys/emergency"): everyone(404),
    ("POST", "/keys/authorities/{institution}/emergency/shares"): everyone(502),
    ("GET", "/chain"): everyone(200),
    # what became of a relayed action: public, like the chain (a hash nothing sent: 404)
    ("GET", "/actions/{tx_hash}"): everyone(404),
    ("GET", "/directory"): everyone(200),
    ("GET", "/directory/members"): signed_in(200),
    ("GET", "/directory/clinicians"): signed_in(200),
    # each institution's membership epochs (issue 16, from Consortium): public, like the chain
    ("GET", "/keys/epochs"): everyone(200),
    # a patient's registered X25519 key is public, like the chain (a stranger has none: 404)
    ("GET", "/patient-keys/{patient}"): everyone(404),
    ("GET", "/audit/access-events"): OVERSEERS_ONLY,
    ("GET", "/audit/verify"): OVERSEERS_ONLY,
    ("GET", "/audit/key-issuances"): OVERSEERS_ONLY,
    # workflows (issue 7): doctors request (no consent in the body here: 422, nothing
    # written); only the party the state machine names moves a referral or consultation
    ("POST", "/referrals"): doctors_only(422),
    ("GET", "/referrals"): signed_in(200),
    ("GET", "/referrals/{referral_id}"): signed_in(200, other_patient=403),
    ("POST", "/referrals/{referral_id}/accept"): only(doctor_with_consent=200),
    ("POST", "/referrals/{referral_id}/reject"): only(doctor_with_consent=200),
    ("POST", "/referrals/{referral_id}/arrive"): only(doctor_with_consent=200),
    ("POST", "/referrals/{referral_id}/complete"): only(doctor_with_consent=200),
    ("POST", "/referrals/{referral_id}/cancel"): only(doctor_without_consent=200),
    ("POST", "/consultations"): doctors_only(422),
    ("GET", "/consultations"): signed_in(200),
    ("GET", "/consultations/{consultation_id}"): signed_in(200, other_patient=403),
    ("POST", "/consultations/{consultation_id}/opinions"): only(doctor_with_consent=201),
    ("POST", "/consultations/{consultation_id}/close"): only(doctor_without_consent=200),
    ("POST", "/consultations/{consultation_id}/cancel"): only(doctor_without_consent=200),
    # break-glass (issue 8): doctors open (the key comes from t of n authorities, not the
    # API); the queue is the overseers'; reviews are the auditors' (the contract demands one)
    ("POST", "/break-glass"): doctors_only(201),
    ("GET", "/audit/break-glass"): OVERSEERS_ONLY,
    ("POST", "/audit/break-glass/{opening_id}/review"): only(auditor=200),
    ("GET", "/patients/{address}/break-glass"): signed_in(403, patient=200, auditor=200, admin=200),
    # the chart's break-glass count (bg:<n> of new policies): those who encrypt for it, overseers
    ("GET", "/patients/{address}/break-glass/count"): signed_in(200, other_patient=403),
    # SMART App Launch (docs/marketplace.md): OAuth endpoints are the apps' (client auth, RFC
    # 6749 errors: an unknown client here); the consent step and connections need a session
    ("GET", "/.well-known/smart-configuration"): everyone(200),
    ("GET", "/smart/jwks"): everyone(200),
    ("POST", "/smart/register"): everyone(400),
    ("POST", "/smart/token"): everyone(400),
    ("POST", "/smart/revoke"): everyone(400),
    ("POST", "/smart/introspect"): signed_in(200, anonymous=400),
    ("POST", "/smart/launch"): signed_in(400),
    ("GET", "/smart/authorize"): signed_in(400),
    ("POST", "/smart/authorize"): signed_in(400),
    ("GET", "/smart/connections"): signed_in(200),
    # a patient's on-chain revocation: an unsigned body is a precise 422 for anyone signed in
    ("POST", "/smart/apps/{app_id}/revoke"): signed_in(422),
    # the app marketplace (issue 21): listings, votes and installs are public, as on chain;
    # uploads need an enrolled vendor (none here: 403); a signed action needs a session and
    # the role the contract demands (a vote: no administrator here, 403)
    ("GET", "/marketplace/apps"): everyone(200),
    ("GET", "/marketplace/apps/{app_id}"): everyone(404),
    ("GET", "/marketplace/review-queue"): everyone(200),
    ("GET", "/marketplace/institutions/{institution_id}/apps"): everyone(200),
    ("GET", "/marketplace/roles"): everyone(200),
    ("GET", "/marketplace/manifest-schema"): everyone(200),
    ("POST", "/marketplace/manifests"): signed_in(403),
    ("GET", "/marketplace/manifests/{cid}"): everyone(404),
    ("POST", "/marketplace/actions/{kind}"): signed_in(403),
}


SMART_QUERY = {"response_type": "code", "client_id": "unknown-app", "scope": "openid"}
SMART_FORM = {"token": "not-a-token", "client_id": "unknown-app"}


def served_routes(stack: Stack) -> set[tuple[str, str]]:
    """Every (method, path) the app answers: the OpenAPI paths plus the plain routes.

    The OpenAPI document lists every API route (none of ours hides from it); the plain
    Starlette routes at the top level are the docs pages. FastAPI's included routers are not
    walked directly: their classes are internal and change between releases.
    """
    app = stack.client.app
    served = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    }
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and not isinstance(route, APIRoute):
            served.update((m, route.path) for m in route.methods or () if m != "HEAD")
    return served


class Scenario:
    """The chart under test and one way to call each endpoint as each role."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.people: dict[str, LocalAccount | None] = {
            "anonymous": None,
            "patient": stack.patient,
            "other_patient": stack.other_patient,
            "doctor_with_consent": stack.cardiologist,
            "doctor_without_consent": stack.gp,
            "auditor": stack.auditor,
            "admin": stack.admin,
        }
        record_id, header, body = stack.make_record(
            stack.patient, "role:doctor and dept:cardiology", b'{"resourceType":"Observation"}'
        )
        shared = stack.upload(
            stack.patient, record_id=record_id, patient=stack.patient, header=header, body=body
        )
        assert shared.status_code == 201, shared.text
        self.record_id = record_id
        self.record_hex = "0x" + record_id.hex()
        stack.grant(stack.patient, stack.cardiologist)  # whole chart, treatment
        # one consent per role for the revocation row (to strangers: no effect on the rest)
        self.revocable: dict[str, Consent] = {
            role: stack.grant(stack.patient, Account.create().address)[0] for role in ROLES
        }
        self.workflows = MatrixWorkflows(stack)

    def headers(self, role: str) -> dict[str, str]:
        account = self.people[role]
        return {} if account is None else self.stack.login(account)

    def address(self, role: str) -> str:
        account = self.people[role]
        return account.address if account is not None else Account.create().address

    # one function per endpoint: (role) -> response -------------------------------------

    def call(self, method: str, path: str, role: str) -> Any:
        handler: Callable[[str], Any] | None = getattr(
            self,
            "_"
            + method.lower()
            + path.replace("/", "_")
            .replace(".", "_")
            .replace("-", "_")
            .replace("{", "")
            .replace("}", ""),
            None,
        )
        if handler is not None:
            return handler(role)
        raise AssertionError(f"no request defined for {method} {path}")  # pragma: no cover

    def _get(self, path: str, role: str, **params: Any) -> Any:
        return self.stack.client.get(path, headers=self.headers(role), params=params)

    # the app marketplace ------------------------------------------------------------------

    def _get_marketplace_apps(self, role: str) -> Any:
        return self._get("/marketplace/apps", role)

    def _get_marketplace_apps_app_id(self, role: str) -> Any:
        return self._get("/marketplace/apps/0x" + "ab" * 32, role)

    def _get_marketplace_review_queue(self, role: str) -> Any:
        return self._get("/marketplace/review-queue", role)

    def _get_marketplace_institutions_institution_id_apps(self, role: str) -> Any:
        return self._get(f"/marketplace/institutions/{self.stack.cd3h}/apps", role)

    def _get_marketplace_roles(self, role: str) -> Any:
        return self._get("/marketplace/roles", role)

    def _get_marketplace_manifest_schema(self, role: str) -> Any:
        return self._get("/marketplace/manifest-schema", role)

    def _post_marketplace_manifests(self, role: str) -> Any:
        return self.stack.client.post(
            "/marketplace/manifests", json=manifest(1), headers=self.headers(role)
        )

    def _get_marketplace_manifests_cid(self, role: str) -> Any:
        return self._get("/marketplace/manifests/bafkreinosuchmanifest", role)

    def _post_marketplace_actions_kind(self, role: str) -> Any:
        """A vote signed by the role's own account (anonymous: by a stranger)."""
        account = self.people[role] or Account.create()
        vote = AppVote(
            app_id=bytes(32),
            version=1,
            approve=True,
            nonce=secrets.randbits(64),
            deadline=int(time.time()) + 3600,
        )
        market = Market(self.stack)
        body = {"message": as_json(vote), "signature": market.signature(account, vote)}
        return self.stack.client.post(
            "/marketplace/actions/vote", json=body, headers=self.headers(role)
        )

    def _get_healthz(self, role: str) -> Any:
        return self._get("/healthz", role)

    def _get_readyz(self, role: str) -> Any:
        return self._get("/readyz", role)

    def _get_metrics(self, role: str) -> Any:
        return self._get("/metrics", role)

    def _get_openapi_json(self, role: str) -> Any:
        return self._get("/openapi.json", role)

    def _get_docs(self, role: str) -> Any:
        return self._get("/docs", role)

    def _get_docs_oauth2_redirect(self, role: str) -> Any:
        return self._get("/docs/oauth2-redirect", role)

    def _get_redoc(self, role: str) -> Any:
        return self._get("/redoc", role)

    # -- SMART: an unknown app everywhere (the flows are tests/api/test_smart_*.py) -----------

    def _get__well_known_smart_configuration(self, role: str) -> Any:
        return self._get("/.well-known/smart-configuration", role)

    def _get_smart_jwks(self, role: str) -> Any:
        return self._get("/smart/jwks", role)

    def _post_smart_register(self, role: str) -> Any:
        return self.stack.client.post("/smart/register", headers=self.headers(role), json={})

    def _post_smart_token(self, role: str) -> Any:
        form = {"grant_type": "authorization_code", "code": "x", "client_id": "unknown-app"}
        return self.stack.client.post("/smart/token", data=form)

    def _post_smart_revoke(self, role: str) -> Any:
        return self.stack.client.post("/smart/revoke", data=SMART_FORM)

    def _post_smart_introspect(self, role: str) -> Any:
        return self.stack.client.post(
            "/smart/introspect", headers=self.headers(role), data=SMART_FORM
        )

    def _post_smart_launch(self, role: str) -> Any:
        body = {"client_id": "unknown-app", "patient": self.stack.patient.address}
        return self.stack.client.post("/smart/launch", headers=self.headers(role), json=body)

    def _get_smart_authorize(self, role: str) -> Any:
        return self._get("/smart/authorize", role, **SMART_QUERY)

    def _post_smart_authorize(self, role: str) -> Any:
        return self.stack.client.post(
            "/smart/authorize", headers=self.headers(role), params=SMART_QUERY, json={}
        )

    def _get_smart_connections(self, role: str) -> Any:
        return self._get("/smart/connections", role)

    def _post_smart_apps_app_id_revoke(self, role: str) -> Any:
        return self.stack.client.post(
            "/smart/apps/0x" + "ab" * 32 + "/revoke", headers=self.headers(role), json={}
        )

    def _post_auth_nonce(self, role: str) -> Any:
        return self.stack.client.post("/auth/nonce", json={"address": self.address(role)})

    def _post_auth_login(self, role: str) -> Any:
        account = self.people[role]
        if account is not None:
            return self.stack.login_response(account)
        stranger = Account.create()
        message = self.stack.siwe_message(stranger)
        unsigned = "0x" + bytes(65).hex()
        return self.stack.client.post(
            "/auth/login", json={"message": message.text(), "signature": unsigned}
        )

    def _post_auth_logout(self, role: str) -> Any:
        account = self.people[role]
        headers: dict[str, str] = {}
        if account is not None:  # a session of its own: the role's main one stays usable
            token = self.stack.login_response(account).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
        return self.stack.client.post("/auth/logout", headers=headers)

    def _get_auth_me(self, role: str) -> Any:
        return self._get("/auth/me", role)

    def _post_records(self, role: str) -> Any:
        """An upload sealed and its registration signed by the role's account, as its client
        would (anonymous: unsigned, refused before the signature matters)."""
        stack = self.stack
        account = self.people[role]
        record_id, header, body = stack.make_record(
            stack.patient, "role:doctor", b"{}", author=account
        )
        if account is not None:
            return stack.upload(
                account, record_id=record_id, patient=stack.patient, header=header, body=body
            )
        metadata = {
            "record_id": "0x" + record_id.hex(),
            "patient": stack.patient.address,
            "record_type": "Observation",
        }
        return stack.client.post(
            "/records",
            data={"metadata": json.dumps(metadata)},
            files={"header": ("h", header), "body": ("b", body)},
        )

    def _get_patients_address_records(self, role: str) -> Any:
        return self._get(f"/patients/{self.stack.patient.address}/records", role)

    def _get_patients_address_timeline(self, role: str) -> Any:
        return self._get(f"/patients/{self.stack.patient.address}/timeline", role)

    def _get_records_record_id(self, role: str) -> Any:
        return self._get(f"/records/{self.record_hex}", role)

    def _get_records_record_id_header(self, role: str) -> Any:
        return self._get(f"/records/{self.record_hex}/header", role)

    def _get_records_record_id_body(self, role: str) -> Any:
        return self._get(f"/records/{self.record_hex}/body", role)

    def _post_records_record_id_rekey(self, role: str) -> Any:
        stack = self.stack  # a full re-encryption: a fresh header and body, no old key needed
        _, header, body = stack.make_record(
            stack.patient,
            "role:doctor and dept:cardiology",
            b'{"resourceType":"Observation"}',
            record_id=bytes.fromhex(self.record_hex[2:]),
        )
        account = self.people[role]
        data = {}
        if account is not None:  # the re-key signed by the role's account, as its client would
            data["signed"] = stack.rekey_signed(
                account, record_id=self.record_hex, header=header, body=body
            )
        return stack.client.post(
            f"/records/{self.record_hex}/rekey",
            headers=self.headers(role),
            data=data,
            files={"header": ("h", header), "body": ("b", body)},
        )

    def _post_consents(self, role: str) -> Any:
        consent, signature = self.stack.sign_consent(
            self.stack.patient, grantee=Account.create().address
        )
        return self.stack.client.post(
            "/consents",
            headers=self.headers(role),
            json={"consent": consent_json(consent), "signature": "0x" + signature.hex()},
        )

    def _post_consents_revocations(self, role: str) -> Any:
        consent = self.revocable[role]
        revocation, signature = self.stack.sign_revocation(self.stack.patient, consent)
        return self.stack.client.post(
            "/consents/revocations",
            headers=self.headers(role),
            json={
                "consent": consent_json(consent),
                "nonce": revocation.nonce,
                "deadline": revocation.deadline,
                "signature": "0x" + signature.hex(),
            },
        )

    def _get_consents(self, role: str) -> Any:
        return self._get("/consents", role, patient=self.stack.patient.address)

    def _get_keys_authorities(self, role: str) -> Any:
        return self._get("/keys/authorities", role)

    def _post_patient_keys(self, role: str) -> Any:
        patient = Account.create()  # a fresh patient per call: version 1 is always new
        public_key = secrets.token_bytes(32)
        data = registration_typed_data(
            patient=patient.address,
            public_key=public_key,
            version=1,
            chain_id=self.stack.w3.eth.chain_id,
            verifying_contract=self.stack.deployment.address("ConsentManager"),
        )
        signature = bytes(patient.sign_message(encode_typed_data(full_message=data)).signature)
        return self.stack.client.post(
            "/patient-keys",
            headers=self.headers(role),
            json={
                "patient": patient.address,
                "public_key": "0x" + public_key.hex(),
                "version": 1,
                "signature": "0x" + signature.hex(),
            },
        )

    def _get_keys_epochs(self, role: str) -> Any:
        return self._get("/keys/epochs", role)

    def _get_patient_keys_patient(self, role: str) -> Any:
        return self._get(f"/patient-keys/{Account.create().address}", role)

    def _get_chain(self, role: str) -> Any:
        return self._get("/chain", role)

    def _get_actions_tx_hash(self, role: str) -> Any:
        return self._get("/actions/0x" + "cd" * 32, role)

    def _get_directory(self, role: str) -> Any:
        return self._get("/directory", role)

    def _get_directory_members(self, role: str) -> Any:
        return self._get("/directory/members", role, address=self.stack.gp.address)

    def _get_directory_clinicians(self, role: str) -> Any:
        return self._get("/directory/clinicians", role, institution="cd3h")

    def _get_audit_access_events(self, role: str) -> Any:
        return self._get("/audit/access-events", role)

    def _get_audit_verify(self, role: str) -> Any:
        return self._get("/audit/verify", role)

    def _get_audit_key_issuances(self, role: str) -> Any:
        return self._get("/audit/key-issuances", role)

    def _get_keys_authorities_institution_public_key(self, role: str) -> Any:
        return self._get("/keys/authorities/1/public-key", role)

    def _get_keys_emergency(self, role: str) -> Any:
        return self._get("/keys/emergency", role)

    def _post_keys_authorities_institution_emergency_shares(self, role: str) -> Any:
        return self.stack.client.post(
            "/keys/authorities/1/emergency/shares", headers=self.headers(role), json={}
        )

    def _post_keys_authorities_institution_keys(self, role: str) -> Any:
        return self.stack.client.post(
            "/keys/authorities/1/keys", headers=self.headers(role), json={"request": {}}
        )

    def _post_referrals(self, role: str) -> Any:
        return self.workflows.create_referral(self.headers(role))

    def _get_referrals(self, role: str) -> Any:
        return self._get("/referrals", role)

    def _get_referrals_referral_id(self, role: str) -> Any:
        return self.workflows.show_referral(self.headers(role))

    def _post_referrals_referral_id_accept(self, role: str) -> Any:
        return self.workflows.move(self.headers(role), "accept")

    def _post_referrals_referral_id_reject(self, role: str) -> Any:
        return self.workflows.move(self.headers(role), "reject")

    def _post_referrals_referral_id_arrive(self, role: str) -> Any:
        return self.workflows.move(self.headers(role), "arrive")

    def _post_referrals_referral_id_complete(self, role: str) -> Any:
        return self.workflows.move(self.headers(role), "complete")

    def _post_referrals_referral_id_cancel(self, role: str) -> Any:
        return self.workflows.move(self.headers(role), "cancel")

    def _post_consultations(self, role: str) -> Any:
        return self.workflows.create_consultation(self.headers(role))

    def _get_consultations(self, role: str) -> Any:
        return self._get("/consultations", role)

    def _get_consultations_consultation_id(self, role: str) -> Any:
        return self.workflows.show_consultation(self.headers(role))

    def _post_consultations_consultation_id_opinions(self, role: str) -> Any:
        return self.workflows.opinion(self.headers(role))

    def _post_consultations_consultation_id_close(self, role: str) -> Any:
        return self.workflows.close(self.headers(role))

    def _post_consultations_consultation_id_cancel(self, role: str) -> Any:
        return self.workflows.cancel_consultation(self.headers(role))

    def _post_break_glass(self, role: str) -> Any:
        return self.stack.client.post(
            "/break-glass",
            headers=self.headers(role),
            json={"patient": self.stack.patient.address, "reason": "matrix: unconscious in ED"},
        )

    def _opening(self) -> str:
        """One opening of the cardiologist on the chart (made on first use)."""
        if getattr(self, "_opening_id", None) is None:
            answer = self._post_break_glass("doctor_with_consent")
            assert answer.status_code == 201, answer.text
            self._opening_id = answer.json()["id"]
        return self._opening_id

    def _get_audit_break_glass(self, role: str) -> Any:
        return self._get("/audit/break-glass", role, reviewed="false")

    def _post_audit_break_glass_opening_id_review(self, role: str) -> Any:
        return self.stack.client.post(
            f"/audit/break-glass/{self._opening()}/review",
            headers=self.headers(role),
            json={"justified": True, "note": "matrix review"},
        )

    def _get_patients_address_break_glass(self, role: str) -> Any:
        return self._get(f"/patients/{self.stack.patient.address}/break-glass", role)

    def _get_patients_address_break_glass_count(self, role: str) -> Any:
        return self._get(f"/patients/{self.stack.patient.address}/break-glass/count", role)


def consent_json(consent: Consent) -> dict[str, Any]:
    return {
        "patient": consent.patient,
        "grantee": consent.grantee,
        "grantee_policy_hash": "0x" + consent.grantee_policy_hash.hex(),
        "record_id": "0x" + consent.record_id.hex(),
        "purpose": int(consent.purpose),
        "not_before": consent.not_before,
        "expires_at": consent.expires_at,
        "nonce": consent.nonce,
    }


def test_every_route_is_classified(api_stack: Stack) -> None:
    served = served_routes(api_stack)
    unclassified = sorted(served - set(MATRIX))
    stale = sorted(set(MATRIX) - served)
    assert not unclassified, f"routes missing from the authorisation matrix: {unclassified}"
    assert not stale, f"matrix rows for routes the app does not serve: {stale}"


def test_authorisation_matrix(api_stack: Stack) -> None:
    scenario = Scenario(api_stack)
    start_block = api_stack.w3.eth.block_number + 1
    mismatches: list[str] = []
    content_attempts: Counter[tuple[str, bool]] = Counter()
    for (method, path), expected in MATRIX.items():
        for role in ROLES:
            response = scenario.call(method, path, role)
            if response.status_code != expected[role]:
                mismatches.append(
                    f"{method} {path} as {role}: {response.status_code} "
                    f"(expected {expected[role]}) {response.text[:160]}"
                )
            if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                error = response.json().get("error", {})
                # OAuth endpoints answer RFC 6749's form: the code is the "error" string
                if not (error if isinstance(error, str) else error.get("code")):
                    mismatches.append(f"{method} {path} as {role}: error without a code")
            if path.endswith(("/header", "/body")) and role != "anonymous":
                address = scenario.people[role].address  # type: ignore[union-attr]
                key = (address, response.status_code == 200)
                # identical denials (the header's, then the body's) are one entry on chain,
                # the repeat counted in the index (services.access.coalesce_denial)
                content_attempts[key] = content_attempts[key] + 1 if key[1] else 1
    assert not mismatches, "authorisation matrix mismatches:\n" + "\n".join(mismatches)

    # every content read attempt of a signed-in caller is one AccessLogged event on chain
    events = [
        e
        for e in api_stack.access_logged(from_block=start_block)
        if bytes(e["recordId"]) == scenario.record_id
    ]
    logged = Counter((e["accessor"], bool(e["granted"])) for e in events)
    assert logged == content_attempts
    # header + body for the two readers granted; one coalesced denial for each other role
    assert sum(logged.values()) == 2 * 2 + (len(ROLES) - 1 - 2)
    granted_to = {address for (address, granted) in logged if granted}
    assert granted_to == {api_stack.patient.address, api_stack.cardiologist.address}


def test_denied_reads_never_carry_content(api_stack: Stack) -> None:
    scenario = Scenario(api_stack)
    for role in ("other_patient", "doctor_without_consent", "auditor", "admin"):
        for part in ("header", "body"):
            response = scenario.call("GET", f"/records/{{record_id}}/{part}", role)
            assert response.status_code == 403
            assert response.headers["content-type"].startswith("application/json")
            assert response.json()["error"]["code"] == "forbidden"
    # the stranger's signature is no session: nothing about the stack's users leaks
    stranger = siwe.generate_nonce()
    assert (
        api_stack.client.get(
            f"/records/{scenario.record_hex}/body", headers={"Authorization": f"Bearer {stranger}"}
        ).status_code
        == 401
    )
    unused = secrets.token_bytes(32)
    missing = api_stack.client.get(
        f"/records/0x{unused.hex()}/body", headers=scenario.headers("patient")
    )
    assert missing.status_code == 404
