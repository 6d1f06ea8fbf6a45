"""Attackers and bad input at the marketplace routes, against the real stack: each refused
with a precise 4xx and a stable ``code`` (never a 5xx), and nothing written on chain or in
the index.

- manifests: an unknown SMART scope (422 naming the field and index), a non-http URL, wrong
  types, malformed JSON, an oversized body, an upload by someone who is not a vendor;
- actions: a signature by someone other than the signed-in caller (forged, or for another
  message), the relayer acting alone (through the API and straight at the contract), a
  replayed action, a vote by a non-administrator, a rating from an institution that did not
  install the app, malformed messages, a vote on a version that does not exist (the
  contract's revert, mapped by name);
- reads: an unknown app id (404), a malformed one (422).
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from crypto.signing import VendorChange
from ledger_api.chain.errors import TransactionRevertedError
from tests.api.conftest import RELAYER_KEY, Stack
from tests.api.marketplace_api_support import (
    APP_ID,
    Market,
    as_json,
    deadline,
    manifest,
    nonce,
)

APP = "0x" + APP_ID.hex()


def _code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


@pytest.fixture
def market(api_stack: Stack) -> Market:
    market = Market(api_stack)
    market.setup()
    return market


def _nothing_listed(stack: Stack) -> None:
    assert stack.client.get("/marketplace/review-queue").json()["total"] == 0
    assert stack.client.get("/marketplace/apps?status=all").json()["total"] == 0
    assert _code(stack.client.get(f"/marketplace/apps/{APP}"), 404) == "app_not_found"


def test_bad_manifests_are_refused_precisely(market: Market) -> None:
    stack = market.stack
    bad = manifest(1)
    bad["scopes"].append({"scope": "patient/Observation.steal", "justification": "x"})
    response = market.upload(bad)
    assert _code(response, 422) == "unknown_scope"
    assert response.json()["error"]["details"]["field"] == "scopes[2].scope"

    bad = manifest(1)
    bad["scopes"][0]["scope"] = "system/*.cruds"
    response = market.upload(bad)
    assert _code(response, 422) == "unknown_scope"
    assert response.json()["error"]["details"]["field"] == "scopes[0].scope"

    for field, value in [
        ("redirect_urls", ["javascript:alert(1)"]),
        ("redirect_urls", ["/relative/callback"]),
        ("launch_url", "ftp://apps.example.cn/launch"),
        ("version", 3),
        ("scopes", "patient/*.rs"),
        ("date", "yesterday"),
        ("client_type", "anything"),
        ("extra_field", "smuggled"),
    ]:
        bad = manifest(1)
        bad[field] = value
        response = market.upload(bad)
        assert _code(response, 422) == "invalid_manifest", field
        assert response.json()["error"]["details"]["field"].startswith(field)

    missing = manifest(1)
    del missing["package_digest"]
    assert _code(market.upload(missing), 422) == "invalid_manifest"

    headers = {**stack.login(market.vendor), "content-type": "application/json"}
    malformed = stack.client.post("/marketplace/manifests", content=b'{"name": ', headers=headers)
    assert malformed.status_code in (400, 422), malformed.text
    not_object = stack.client.post("/marketplace/manifests", json=[1, 2], headers=headers)
    assert not_object.status_code == 422

    huge = manifest(1)
    huge["description"] = "x" * (70 * 1024)
    assert _code(market.upload(huge), 413) == "manifest_too_large"

    # not a vendor (a clinician, signed in): refused before anything is stored
    response = market.upload(manifest(1), caller=stack.cardiologist)
    assert _code(response, 403) == "not_vendor"
    assert stack.client.post("/marketplace/manifests", json=manifest(1)).status_code == 401
    _nothing_listed(stack)


def test_forged_and_replayed_actions_are_refused(market: Market) -> None:
    stack = market.stack
    uploaded = market.upload(manifest(1)).json()
    digest = bytes.fromhex(uploaded["digest"][2:])
    submission = market.submission(1, uri=uploaded["uri"], digest=digest)

    # the vendor's session relays a submission signed by someone else
    response = market.post(market.vendor, submission, signer=Account.create())
    assert _code(response, 403) == "signer_mismatch"
    # a vendor signature of another message (the URI changed after signing)
    body = {
        "message": as_json(submission),
        "signature": market.signature(market.vendor, submission),
    }
    body["message"]["manifestUri"] = "ipfs://bafkreiattacker"
    assert _code(market.post(market.vendor, submission, body=body), 403) == "signer_mismatch"
    # garbage signatures
    body = {"message": as_json(submission), "signature": "0x" + "00" * 65}
    assert _code(market.post(market.vendor, submission, body=body), 422) == "invalid_signature"
    body = {"message": as_json(submission), "signature": "0x1234"}
    assert _code(market.post(market.vendor, submission, body=body), 422) == "invalid_signature"

    # the relayer alone: through the API it holds no vendor role ...
    relayer = Account.from_key(RELAYER_KEY)
    own = market.submission(1, uri=uploaded["uri"], digest=digest)
    assert _code(market.post(relayer, own), 403) == "MarketplaceNotVendor"
    # ... and straight at the contract, with no actor signature, it acts as itself
    with pytest.raises(TransactionRevertedError) as refused:
        stack.ctx.chain.marketplace.submit_app(message=own, signature=b"").wait()
    assert refused.value.error_name == "MarketplaceNotVendor"
    # nor can it enrol itself as a vendor
    enrol = VendorChange(vendor=relayer.address, enrolled=True, nonce=nonce(), deadline=deadline())
    assert _code(market.post(relayer, enrol), 403) == "MarketplaceUnauthorized"
    _nothing_listed(stack)

    # the real submission once; its replay is refused by the nonce
    body = {
        "message": as_json(submission),
        "signature": market.signature(market.vendor, submission),
    }
    assert market.post(market.vendor, submission, body=body).status_code == 200
    assert _code(market.post(market.vendor, submission, body=body), 409) == "MarketplaceNonceUsed"
    assert len(stack.client.get(f"/marketplace/apps/{APP}").json()["versions"]) == 1

    # an expired signature
    stale = market.vote(1)
    stale = type(stale)(**{**stale.__dict__, "deadline": 1_000})
    assert _code(market.post(market.provider, stale), 422) == "signature_expired"


def test_role_checks_votes_ratings_and_reverts(market: Market) -> None:
    stack = market.stack
    market.submit_uploaded(1)

    # a vote by someone holding no administrator role (the vendor itself, a clinician)
    assert _code(market.post(market.vendor, market.vote(1)), 403) == "MarketplaceUnauthorized"
    outsider = stack.cardiologist
    assert _code(market.post(outsider, market.vote(1)), 403) == "MarketplaceUnauthorized"
    # a rejection without a reason
    response = market.post(market.provider, market.vote(1, approve=False))
    assert _code(response, 422) == "MarketplaceMissingReason"
    # a vote on a version that does not exist: past the API's checks, the contract refuses
    response = market.post(market.provider, market.vote(9))
    assert _code(response, 409) == "MarketplaceUnknownVersion"
    # the same role twice
    market.ok(market.provider, market.vote(1))
    assert _code(market.post(market.provider, market.vote(1)), 409) == "MarketplaceAlreadyVoted"
    queue = stack.client.get("/marketplace/review-queue").json()["items"]
    assert [len(i["votes"]) for i in queue] == [1]

    # installing before it is Live: the contract's NotLive
    assert _code(market.post(stack.admin, market.install(stack.cd3h)), 409) == "MarketplaceNotLive"
    for admin in market.admins[1:]:
        market.ok(admin, market.vote(1))
    market.ok(stack.admin, market.install(stack.cd3h))

    # a rating from an institution that did not install the app
    response = market.post(stack.admin, market.rating(stack.qyqchc, 1, 5))
    assert _code(response, 409) == "MarketplaceNotInstalled"
    # a rating by someone who is not the institution's admin
    response = market.post(stack.cardiologist, market.rating(stack.cd3h, 1, 5))
    assert _code(response, 403) == "MarketplaceUnauthorized"
    # out of range, no such institution
    response = market.post(stack.admin, market.rating(stack.cd3h, 1, 9))
    assert _code(response, 422) == "MarketplaceInvalidScore"
    response = market.post(stack.admin, market.rating(99, 1, 5))
    assert _code(response, 422) == "MarketplaceInvalidInstitution"
    detail = stack.client.get(f"/marketplace/apps/{APP}").json()
    assert detail["rating_count"] == 0
    assert detail["installed_by"] == [stack.cd3h]
    # once, then never twice
    market.ok(stack.admin, market.rating(stack.cd3h, 1, 5))
    response = market.post(stack.admin, market.rating(stack.cd3h, 1, 3))
    assert _code(response, 409) == "MarketplaceAlreadyRated"
    assert stack.client.get(f"/marketplace/apps/{APP}").json()["rating_avg"] == 5


def test_malformed_actions_and_reads_are_4xx(market: Market) -> None:
    stack = market.stack
    headers = stack.login(market.vendor)
    vote = market.vote(1)
    good = {"message": as_json(vote), "signature": market.signature(market.vendor, vote)}

    def post(kind: str, body: Any) -> Any:
        return stack.client.post(f"/marketplace/actions/{kind}", json=body, headers=headers)

    cases: list[tuple[str, Any, int, str]] = [
        (
            "vote",
            {**good, "message": {**good["message"], "version": "one"}},
            422,
            "invalid_message",
        ),
        ("vote", {**good, "message": {**good["message"], "version": -1}}, 422, "invalid_message"),
        ("vote", {**good, "message": {**good["message"], "appId": "0x12"}}, 422, "invalid_message"),
        (
            "vote",
            {**good, "message": {**good["message"], "approve": "yes"}},
            422,
            "invalid_message",
        ),
        ("vote", {**good, "message": {**good["message"], "extra": 1}}, 422, "invalid_message"),
        (
            "vote",
            {"message": {"appId": APP}, "signature": good["signature"]},
            422,
            "invalid_message",
        ),
        ("vote", {"message": "text", "signature": good["signature"]}, 422, "invalid_request"),
        ("vote", {"message": good["message"]}, 422, "invalid_request"),
        ("steal", good, 422, "invalid_request"),
        ("submit", good, 422, "invalid_message"),  # a vote is not a submission
    ]
    for kind, body, status, code in cases:
        assert _code(post(kind, body), status) == code, (kind, body)
    raw = stack.client.post(
        "/marketplace/actions/vote",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert raw.status_code in (400, 422), raw.text
    assert stack.client.post("/marketplace/actions/vote", json=good).status_code == 401

    assert _code(stack.client.get("/marketplace/apps/0x" + "ab" * 32), 404) == "app_not_found"
    assert _code(stack.client.get("/marketplace/apps/not-an-id"), 422) == "invalid_app_id"
    assert stack.client.get("/marketplace/apps?limit=0").status_code == 422
    assert stack.client.get("/marketplace/apps?status=everything").status_code == 422
    assert stack.client.get("/marketplace/apps?min_rating=six").status_code == 422
    assert stack.client.get("/marketplace/institutions/0/apps").status_code == 422
    response = stack.client.get("/marketplace/manifests/bafkreinothere")
    assert _code(response, 404) == "manifest_not_found"
    assert _code(stack.client.get("/marketplace/manifests/..bad.cid"), 422) == "invalid_cid"
    _nothing_listed(stack)
