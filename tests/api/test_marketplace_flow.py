"""The marketplace's whole path through HTTP against the real stack: the consortium admin
enrols a vendor and the three administrators, the vendor uploads a manifest and submits,
two administrators approve (still In Review), the third approves (Live), an institution
installs and rates; listing, search, the app's page, the review queue and the institution's
apps reflect each step with its transaction hashes, and the indexer, catching up on the same
blocks, changes nothing."""

from __future__ import annotations

import json
from typing import Any

from eth_account.signers.local import LocalAccount

from crypto.signing import AppStatusChange, StatusAction, manifest_digest
from storage.unixfs import compute_cid
from tests.api.conftest import Stack
from tests.api.marketplace_api_support import APP_ID, Market, deadline, manifest, nonce

APP = "0x" + APP_ID.hex()


def _detail(stack: Stack) -> dict:
    response = stack.client.get(f"/marketplace/apps/{APP}")
    assert response.status_code == 200, response.text
    return response.json()


def test_submit_review_list_install_rate(api_stack: Stack) -> None:
    stack = api_stack
    market = Market(stack)
    market.setup()

    roles = stack.client.get("/marketplace/roles", headers=stack.login(market.vendor)).json()
    assert roles["administrators"] == {
        "platform_provider": market.provider.address,
        "regulator": market.regulator.address,
        "consortium_authority": market.authority.address,
    }
    assert [v["address"] for v in roles["vendors"]] == [market.vendor.address.lower()]
    assert roles["me"]["is_vendor"] is True
    assert roles["me"]["admin_role"] is None
    assert stack.client.get("/marketplace/roles").json()["me"] is None

    # the vendor uploads the manifest: canonical JSON in the store, its digest to sign
    document = manifest(1)
    uploaded = market.upload(document)
    assert uploaded.status_code == 201, uploaded.text
    out = uploaded.json()
    assert out["digest"] == "0x" + manifest_digest(document).hex()
    assert out["uri"] == f"ipfs://{out['cid']}"
    served = stack.client.get(f"/marketplace/manifests/{out['cid']}")
    assert served.status_code == 200
    assert json.loads(served.content) == document
    assert (
        served.content
        == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )

    submitted = market.ok(
        market.vendor,
        market.submission(1, uri=out["uri"], digest=bytes.fromhex(out["digest"][2:])),
    )
    queue = stack.client.get("/marketplace/review-queue").json()
    assert [(i["app_id"], i["version"], i["votes"]) for i in queue["items"]] == [(APP, 1, [])]
    assert queue["items"][0]["name"] == document["name"]

    # two approvals: still In Review, both votes shown with their transactions
    votes = [market.ok(admin, market.vote(1)) for admin in market.admins[:2]]
    detail = _detail(stack)
    version = detail["versions"][0]
    assert detail["status"] == "in_review"
    assert detail["live_version"] is None
    assert [(v["role_name"], v["account"], v["approve"]) for v in version["votes"]] == [
        ("platform_provider", market.provider.address.lower(), True),
        ("regulator", market.regulator.address.lower(), True),
    ]
    assert [v["tx_hash"] for v in version["votes"]] == [v["tx_hash"] for v in votes]
    assert stack.client.get("/marketplace/apps").json() == {"items": [], "total": 0}
    queued = stack.client.get("/marketplace/review-queue").json()["items"][0]
    assert queued["pending_roles"] == ["consortium_authority"]

    # the third: Live
    market.ok(market.authority, market.vote(1))
    detail = _detail(stack)
    version = detail["versions"][0]
    assert detail["status"] == "live"
    assert detail["live_version"] == 1
    assert version["status"] == "live"
    assert len(version["votes"]) == 3
    assert version["digest_ok"] is True
    assert version["manifest"] == document
    assert version["tx_hash"] == submitted["tx_hash"]
    assert version["block_number"] == submitted["block_number"]
    assert stack.client.get("/marketplace/review-queue").json()["total"] == 0

    listing = stack.client.get("/marketplace/apps").json()
    assert listing["total"] == 1
    item = listing["items"][0]
    assert item["app_id"] == APP
    assert item["name"] == document["name"]
    assert item["version"] == 1
    assert item["version_label"] == "1.1.0"
    assert item["type"] == "clinical-visualisation"
    assert item["date"] == "2026-12-07"
    assert item["vendor"] == market.vendor.address.lower()
    assert item["install_count"] == 0
    assert item["rating_count"] == 0

    # install at cd3h and rate
    installed = market.ok(stack.admin, market.install(stack.cd3h))
    market.ok(stack.admin, market.rating(stack.cd3h, 1, 4))
    detail = _detail(stack)
    assert detail["installed_by"] == [stack.cd3h]
    assert detail["install_count"] == 1
    assert detail["rating_avg"] == 4
    assert detail["rating_count"] == 1
    mine = stack.client.get(f"/marketplace/institutions/{stack.cd3h}/apps").json()
    assert [(a["app_id"], a["installed_version"], a["launchable"]) for a in mine["items"]] == [
        (APP, 1, True)
    ]
    assert mine["items"][0]["tx_hash"] == installed["tx_hash"]
    assert stack.client.get(f"/marketplace/institutions/{stack.qyqchc}/apps").json()["total"] == 0

    # search and filters
    def found(**params: object) -> list[str]:
        response = stack.client.get("/marketplace/apps", params=params)
        assert response.status_code == 200, response.text
        return [i["app_id"] for i in response.json()["items"]]

    assert found(q="blood-pressure") == [APP]
    assert found(q="血压") == [APP]
    assert found(q="no such app") == []
    assert found(type="clinical-visualisation") == [APP]
    assert found(type="decision-support") == []
    assert found(vendor=market.vendor.address) == [APP]
    assert found(vendor="chengdu health") == [APP]
    assert found(min_rating=4) == [APP]
    assert found(min_rating=4.5) == []
    assert found(status="in_review") == []
    assert found(status="all") == [APP]
    item = stack.client.get("/marketplace/apps").json()["items"][0]
    assert (item["install_count"], item["rating_avg"], item["rating_count"]) == (1, 4, 1)

    # the indexer reads the same blocks: nothing changes, nothing doubles
    before = _detail(stack)
    stack.wait_indexed()
    assert _detail(stack) == before


def test_a_newer_version_retires_the_listed_one(api_stack: Stack) -> None:
    stack = api_stack
    market = Market(stack)
    market.setup()
    market.list_version(1)
    market.list_version(2)
    detail = _detail(stack)
    assert [(v["version"], v["status"]) for v in detail["versions"]] == [
        (2, "live"),
        (1, "retired"),
    ]
    item = stack.client.get("/marketplace/apps").json()["items"][0]
    assert (item["version"], item["version_label"]) == (2, "1.2.0")


def test_a_manifest_that_does_not_match_its_digest_is_never_shown(api_stack: Stack) -> None:
    stack = api_stack
    market = Market(stack)
    market.setup()
    uploaded = market.upload(manifest(1)).json()
    other = manifest_digest(manifest(7))  # signed digest of another document
    market.ok(market.vendor, market.submission(1, uri=uploaded["uri"], digest=other))
    market.ok(
        market.vendor,
        market.submission(2, uri="ipfs://bafkreimissingmanifest", digest=other),
    )
    versions = {v["version"]: v for v in _detail(stack)["versions"]}
    assert versions[1]["manifest_state"] == "mismatch"
    assert versions[1]["digest_ok"] is False
    assert versions[1]["manifest"] is None
    assert versions[1]["name"] is None
    assert versions[2]["manifest_state"] == "missing"
    assert versions[2]["digest_ok"] is None
    queue = stack.client.get("/marketplace/review-queue").json()["items"]
    assert all(i["manifest"] is None for i in queue)


def test_suspend_reinstate_and_retire(api_stack: Stack) -> None:
    stack = api_stack
    market = Market(stack)
    market.setup()
    market.list_version(1)

    def change(signer: LocalAccount, action: StatusAction, reason: str = "") -> Any:
        message = AppStatusChange(
            app_id=APP_ID,
            version=1,
            action=action,
            reason=reason,
            nonce=nonce(),
            deadline=deadline(),
        )
        return market.post(signer, message, kind="status")

    # the vendor may not suspend; a suspension needs a reason; the regulator suspends
    refused = change(market.vendor, StatusAction.SUSPEND, "mine")
    assert refused.status_code == 403, refused.text
    missing = change(market.regulator, StatusAction.SUSPEND)
    assert missing.json()["error"]["code"] == "MarketplaceMissingReason"
    assert change(market.regulator, StatusAction.SUSPEND, "sends data abroad").status_code == 200
    detail = _detail(stack)
    assert detail["status"] == "suspended"
    assert detail["versions"][0]["reason"] == "sends data abroad"
    assert stack.client.get("/marketplace/apps").json()["total"] == 0
    suspended = stack.client.get("/marketplace/apps", params={"status": "suspended"}).json()
    assert [i["app_id"] for i in suspended["items"]] == [APP]
    # installing a suspended app: the contract says it is not Live
    response = market.post(stack.admin, market.install(stack.cd3h))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "MarketplaceNotLive"

    # the consortium admin reinstates; the vendor retires
    assert change(stack.admin, StatusAction.REINSTATE).status_code == 200
    assert _detail(stack)["status"] == "live"
    assert change(market.vendor, StatusAction.RETIRE).status_code == 200
    detail = _detail(stack)
    assert detail["status"] == "retired"
    assert detail["live_version"] is None
    # a search term is matched literally, not as a LIKE pattern
    assert (
        stack.client.get("/marketplace/apps", params={"q": "%", "status": "all"}).json()["total"]
        == 0
    )


def test_a_manifest_uploaded_after_its_submission_is_attached(api_stack: Stack) -> None:
    stack = api_stack
    market = Market(stack)
    market.setup()
    document = manifest(3)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    cid = str(compute_cid(canonical.encode()))
    market.ok(
        market.vendor,
        market.submission(1, uri=f"ipfs://{cid}", digest=manifest_digest(document)),
    )
    assert _detail(stack)["versions"][0]["manifest_state"] == "missing"
    uploaded = market.upload(document)
    assert uploaded.json()["cid"] == cid
    version = _detail(stack)["versions"][0]
    assert version["manifest_state"] == "ok"
    assert version["manifest"] == document
    assert version["version_label"] == "1.3.0"
