"""Marketplace, the whole path against a real anvil: a vendor submits, two administrators
approve and the version is still in review, the third approves and it is Live; a newer
version going Live retires the older; institutions install, rate, uninstall; suspension and
reinstatement; the vendor retires its own. Every step is signed by its actor and carried by
the relayer. The contract's ``hash<Type>`` views agree with :mod:`crypto.signing`."""

from __future__ import annotations

import pytest
from eth_account import Account

from crypto.signing import MARKETPLACE_TYPES, StatusAction, TypedMessage, manifest_digest
from tests.contracts.helpers import Chain, args, same
from tests.contracts.marketplace_support import (
    APP,
    IN_REVIEW,
    INST_A,
    INST_B,
    LIVE,
    OTHER_APP,
    RETIRED,
    ROLES,
    SUSPENDED,
    Market,
    authorization,
    installation,
    manifest,
    rating,
    revocation,
    setup_market,
    status,
    submission,
    vote,
)


@pytest.fixture
def market(chain: Chain) -> Market:
    return setup_market(chain)


def test_setup_is_visible(market: Market) -> None:
    chain = market.chain
    assert market.view("isVendor", chain.addr("vendor"))
    assert not market.view("isVendor", chain.addr("doctor_a"))
    for who, role in ROLES.items():
        assert same(market.view("administrator", int(role)), chain.addr(who))
        assert market.view("administratorRoleOf", chain.addr(who)) == int(role)


def test_two_approvals_stay_in_review_the_third_lists(market: Market) -> None:
    chain = market.chain
    receipt = market.do("vendor", submission(1))
    event = chain.one_event("Marketplace", "AppSubmitted", receipt)
    assert event["appId"] == APP
    assert event["version"] == 1
    assert same(event["vendor"], chain.addr("vendor"))
    assert event["manifestDigest"] == manifest_digest(manifest(1))
    assert market.status(1) == IN_REVIEW

    market.do("provider", vote(1))
    receipt = market.do("regulator", vote(1))
    cast = chain.one_event("Marketplace", "VoteCast", receipt)
    assert cast["role"] == 2
    assert cast["approve"]
    assert same(cast["voter"], chain.addr("regulator"))
    assert chain.events("Marketplace", "AppListed", receipt) == []
    status_, voted, approvals, *_ = market.view("versionOf", APP, 1)
    assert (status_, voted, approvals) == (IN_REVIEW, 0b0110, 0b0110)
    assert market.view("liveVersionOf", APP) == 0

    receipt = market.do("authority", vote(1))
    assert chain.events("Marketplace", "AppListed", receipt) == [{"appId": APP, "version": 1}]
    assert market.status(1) == LIVE
    assert market.view("liveVersionOf", APP) == 1
    vendor, latest, current, current_status = market.view("appOf", APP)
    assert same(vendor, chain.addr("vendor"))
    assert (latest, current, current_status) == (1, 1, LIVE)


def test_newer_version_live_retires_older_install_and_rate(market: Market) -> None:
    chain = market.chain
    market.list_version(1)
    receipt = market.do("inst_a_admin", installation(INST_A))
    event = chain.one_event("Marketplace", "AppInstalled", receipt)
    assert (event["institutionId"], event["version"]) == (INST_A, 1)
    assert same(event["actor"], chain.addr("inst_a_admin"))
    assert market.view("isInstalled", INST_A, APP)
    assert market.view("isLaunchable", INST_A, APP)
    assert not market.view("isInstalled", INST_B, APP)

    receipt = market.do("inst_a_admin", rating(INST_A, 1, 4))
    rated = chain.one_event("Marketplace", "AppRated", receipt)
    assert (rated["version"], rated["institutionId"], rated["score"]) == (1, INST_A, 4)
    assert market.view("ratingOf", APP, 1, INST_A) == 4

    market.do("vendor", submission(2))
    for who in ("provider", "regulator"):
        market.do(who, vote(2))
    assert market.status(1) == LIVE  # still the listed one while 2 is in review
    receipt = market.do("authority", vote(2))
    retired = chain.one_event("Marketplace", "AppRetired", receipt)
    assert (retired["version"], retired["supersededBy"]) == (1, 2)
    assert (market.status(1), market.status(2)) == (RETIRED, LIVE)
    assert market.view("liveVersionOf", APP) == 2
    assert market.view("isInstalled", INST_A, APP)  # the installation follows the app

    market.do("inst_a_admin", rating(INST_A, 2, 5))  # one rating per institution and version
    market.do("inst_b_admin", installation(INST_B))
    market.do("inst_b_admin", rating(INST_B, 2, 3))
    *_, count, total = market.view("versionOf", APP, 2)
    assert (count, total) == (2, 8)

    receipt = market.do("inst_a_admin", installation(INST_A, install=False))
    assert chain.one_event("Marketplace", "AppUninstalled", receipt)["institutionId"] == INST_A
    assert not market.view("isInstalled", INST_A, APP)
    market.do("inst_a_admin", installation(INST_A))  # a new signature installs it again
    assert market.view("installedVersionOf", INST_A, APP) == 2


def test_suspend_and_reinstate(market: Market) -> None:
    chain = market.chain
    market.list_version(1)
    market.do("inst_a_admin", installation(INST_A))
    receipt = market.do("regulator", status(1, StatusAction.SUSPEND, "scope misuse reported"))
    event = chain.one_event("Marketplace", "AppSuspended", receipt)
    assert event["reason"] == "scope misuse reported"
    assert same(event["actor"], chain.addr("regulator"))
    assert market.status(1) == SUSPENDED
    assert market.view("liveVersionOf", APP) == 0
    assert market.view("isInstalled", INST_A, APP)
    assert not market.view("isLaunchable", INST_A, APP)  # installed, but not launchable
    market.fails("inst_b_admin", installation(INST_B), "MarketplaceNotLive")

    receipt = market.do("admin", status(1, StatusAction.REINSTATE))  # the consortium admin
    assert same(
        chain.one_event("Marketplace", "AppReinstated", receipt)["actor"], chain.addr("admin")
    )
    assert market.status(1) == LIVE
    assert market.view("isLaunchable", INST_A, APP)

    market.do("admin", status(1, StatusAction.SUSPEND, "audit"))
    market.do("provider", status(1, StatusAction.REINSTATE))
    assert market.status(1) == LIVE


def test_vendor_retires_its_own(market: Market) -> None:
    chain = market.chain
    market.list_version(1)
    receipt = market.do("vendor", status(1, StatusAction.RETIRE))
    event = chain.one_event("Marketplace", "AppRetired", receipt)
    assert (event["version"], event["supersededBy"]) == (1, 0)
    assert market.status(1) == RETIRED
    assert market.view("liveVersionOf", APP) == 0
    assert market.view("appOf", APP)[2] == 0
    market.fails("inst_a_admin", installation(INST_A), "MarketplaceNotLive")
    # a version in review may be withdrawn the same way
    market.do("vendor", submission(2))
    market.do("vendor", status(2, StatusAction.RETIRE))
    assert market.status(2) == RETIRED
    market.fails("provider", vote(2), "MarketplaceInvalidTransition", status=RETIRED)


def test_direct_calls_need_no_signature(market: Market) -> None:
    """An actor holding gas may send its own transaction (empty signature)."""
    chain = market.chain
    message = submission(1)
    chain.send("vendor", market.call(message, b""))
    assert market.status(1) == IN_REVIEW
    assert market.view("nonceUsed", chain.addr("vendor"), message.nonce)


def test_administrators_and_vendors_change(market: Market) -> None:
    from crypto.signing import AdministratorChange, VendorChange

    chain = market.chain
    chain.accounts["regulator2"] = Account.create()
    market.list_version(1)
    market.do("vendor", submission(2))
    market.do("regulator", vote(2))
    message = AdministratorChange(
        role=2, account=chain.addr("regulator2"), nonce=91, deadline=2**40
    )
    receipt = market.do("admin", message)
    event = chain.one_event("Marketplace", "AdministratorSet", receipt)
    assert same(event["previous"], chain.addr("regulator"))
    assert market.view("administratorRoleOf", chain.addr("regulator")) == 0
    market.fails("regulator", vote(2), "MarketplaceUnauthorized")  # no longer an administrator
    market.fails("regulator2", vote(2), "MarketplaceAlreadyVoted", role=2)  # the role voted
    removal = VendorChange(vendor=chain.addr("vendor"), enrolled=False, nonce=92, deadline=2**40)
    receipt = market.do("admin", removal)
    assert same(
        chain.one_event("Marketplace", "VendorRemoved", receipt)["vendor"], chain.addr("vendor")
    )
    market.fails("vendor", submission(3), "MarketplaceNotVendor")
    assert market.status(1) == LIVE  # its listing stays


@pytest.mark.parametrize("kind", [t.__name__ for t in MARKETPLACE_TYPES])
def test_hash_views_match_crypto_signing(market: Market, kind: str) -> None:
    samples: dict[str, TypedMessage] = {
        "AppSubmission": submission(7, manifest_uri="ipfs://清单"),
        "AppVote": vote(3, approve=False, reason="权限说明不足 scopes lack justification"),
        "AppStatusChange": status(2, StatusAction.SUSPEND, "x"),
        "AppInstallation": installation(9, install=False),
        "AppRating": rating(4, 2, 5),
    }
    from crypto.signing import AdministratorChange, VendorChange

    samples["VendorChange"] = VendorChange(
        vendor=market.chain.addr("vendor"), enrolled=True, nonce=2**255, deadline=2**64 - 1
    )
    samples["AdministratorChange"] = AdministratorChange(
        role=3, account=market.chain.addr("authority"), nonce=5, deadline=17
    )
    samples["AppAuthorization"] = authorization(market.chain, "doctor_a", "patient", nonce=2**200)
    samples["AppRevocation"] = revocation(market.chain, "patient2", app_id=OTHER_APP)
    message = samples[kind]
    view = getattr(market.f, "hash" + kind)(args(message)).call()
    assert bytes(view) == message.struct_hash()
    typehash = {
        "AppSubmission": "APP_SUBMISSION_TYPEHASH",
        "AppVote": "APP_VOTE_TYPEHASH",
        "AppStatusChange": "APP_STATUS_CHANGE_TYPEHASH",
        "AppInstallation": "APP_INSTALLATION_TYPEHASH",
        "AppRating": "APP_RATING_TYPEHASH",
        "VendorChange": "VENDOR_CHANGE_TYPEHASH",
        "AdministratorChange": "ADMINISTRATOR_CHANGE_TYPEHASH",
        "AppAuthorization": "APP_AUTHORIZATION_TYPEHASH",
        "AppRevocation": "APP_REVOCATION_TYPEHASH",
    }[kind]
    assert bytes(getattr(market.f, typehash)().call()) == type(message).type_hash()
