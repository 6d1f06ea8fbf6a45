"""Marketplace attacker cases: every refusal is a precise custom error, and the mined
transaction fails (``Chain.reverts`` checks both), so nothing is written.

The relayer is the interesting attacker: it carries every message, so it must be unable to
vote, install or rate in anyone's name without their signature, to replay a signature, or to
alter a signed message; and an account that is not an enrolled relayer cannot even carry one.
"""

from __future__ import annotations

import dataclasses

import pytest

from crypto.signing import AdministratorChange, StatusAction, VendorChange
from tests.contracts.helpers import FAR, Chain
from tests.contracts.marketplace_support import (
    APP,
    IN_REVIEW,
    INST_A,
    INST_B,
    LIVE,
    REJECTED,
    Market,
    installation,
    nonce,
    rating,
    setup_market,
    status,
    submission,
    vote,
)


@pytest.fixture
def market(chain: Chain) -> Market:
    return setup_market(chain)


@pytest.fixture
def listed(market: Market) -> Market:
    market.list_version(1)
    return market


# -- submissions --------------------------------------------------------------------------


def test_non_vendor_cannot_submit(market: Market) -> None:
    market.fails("doctor_a", submission(1), "MarketplaceNotVendor")
    market.fails("relayer", submission(1), "MarketplaceNotVendor")


def test_vendor_cannot_submit_for_another_vendors_app(market: Market) -> None:
    market.do("vendor", submission(1))
    market.fails("vendor2", submission(2), "MarketplaceNotAppVendor", appId=APP)
    market.fails("vendor2", status(1, StatusAction.RETIRE), "MarketplaceNotAppVendor")


def test_version_must_grow_and_submission_must_be_complete(market: Market) -> None:
    market.do("vendor", submission(3))
    market.fails("vendor", submission(3), "MarketplaceVersionNotNewer", version=3, latest=3)
    market.fails("vendor", submission(2), "MarketplaceVersionNotNewer")
    market.fails("vendor", submission(4, manifest_uri=""), "MarketplaceInvalidSubmission")
    market.fails(
        "vendor", submission(4, manifest_digest=b"\x00" * 32), "MarketplaceInvalidSubmission"
    )
    market.fails("vendor", submission(1, app_id=b"\x00" * 32), "MarketplaceInvalidSubmission")


# -- votes ----------------------------------------------------------------------------------


def test_vote_by_a_non_administrator(market: Market) -> None:
    market.do("vendor", submission(1))
    for who in ("doctor_a", "vendor", "inst_a_admin", "admin", "relayer"):
        market.fails(who, vote(1), "MarketplaceUnauthorized")
    assert market.view("versionOf", APP, 1)[1] == 0  # no vote recorded


def test_double_vote(market: Market) -> None:
    market.do("vendor", submission(1))
    market.do("provider", vote(1))
    market.fails("provider", vote(1), "MarketplaceAlreadyVoted", role=1)
    market.fails("provider", vote(1, approve=False, reason="x"), "MarketplaceAlreadyVoted")


def test_approve_after_rejection(market: Market) -> None:
    chain = market.chain
    market.do("vendor", submission(1))
    market.do("provider", vote(1))
    receipt = market.do("regulator", vote(1, approve=False, reason="未说明数据用途"))
    event = chain.one_event("Marketplace", "AppRejected", receipt)
    assert (event["role"], event["reason"]) == (2, "未说明数据用途")
    assert market.status(1) == REJECTED
    market.fails("authority", vote(1), "MarketplaceInvalidTransition", status=REJECTED)
    market.fails("inst_a_admin", installation(INST_A), "MarketplaceNotLive")


def test_rejection_needs_a_reason(market: Market) -> None:
    market.do("vendor", submission(1))
    market.fails("provider", vote(1, approve=False), "MarketplaceMissingReason")
    assert market.status(1) == IN_REVIEW


def test_vote_on_unknown_version(market: Market) -> None:
    market.fails("provider", vote(1), "MarketplaceUnknownVersion", version=1)


def test_older_version_cannot_go_live_over_a_newer_one(market: Market) -> None:
    market.do("vendor", submission(1))
    market.list_version(2)
    market.do("provider", vote(1))
    market.do("regulator", vote(1))
    market.fails("authority", vote(1), "MarketplaceStaleVersion", version=1, current=2)
    assert market.view("liveVersionOf", APP) == 2


# -- signatures: replay, deadline, forgery, relayers ---------------------------------------


def test_replayed_signature_is_refused(market: Market) -> None:
    chain = market.chain
    market.do("vendor", submission(1))
    message = vote(1)
    signature = chain.sig("provider", message)
    chain.send("relayer", market.call(message, signature))
    chain.reverts(
        "relayer",
        market.call(message, signature),
        "MarketplaceNonceUsed",
        signer=chain.addr("provider"),
        nonce=message.nonce,
    )


def test_replayed_install_after_uninstall_is_refused(listed: Market) -> None:
    """Install, uninstall, then the first install's signature again: refused by its nonce."""
    chain = listed.chain
    install = installation(INST_A)
    signature = chain.sig("inst_a_admin", install)
    chain.send("relayer", listed.call(install, signature))
    listed.do("inst_a_admin", installation(INST_A, install=False))
    chain.reverts("relayer", listed.call(install, signature), "MarketplaceNonceUsed")
    assert not listed.view("isInstalled", INST_A, APP)


def test_expired_deadline(market: Market) -> None:
    chain = market.chain
    market.do("vendor", submission(1))
    now = chain.now()
    late = dataclasses.replace(vote(1), deadline=now)
    chain.mine(now + 5)
    market.fails("provider", late, "MarketplaceSignatureExpired", deadline=now)
    market.fails("vendor", submission(2, deadline=now), "MarketplaceSignatureExpired")


def test_relayer_cannot_forge_an_administrators_vote(market: Market) -> None:
    chain = market.chain
    market.do("vendor", submission(1))
    message = vote(1)
    # no signature: the relayer itself is the actor, and it holds no role
    market.fails(None, message, "MarketplaceUnauthorized", actor=chain.addr("relayer"))
    # its own signature: the same
    market.fails("relayer", message, "MarketplaceUnauthorized", actor=chain.addr("relayer"))
    # the regulator's signature on a rejection, sent as an approval: recovers a stranger
    signed = vote(1, approve=False, reason="no")
    signature = chain.sig("regulator", signed)
    altered = dataclasses.replace(signed, approve=True, reason="")
    chain.reverts("relayer", market.call(altered, signature), "MarketplaceUnauthorized")
    # garbage bytes of the right length recover nobody or a stranger
    chain.reverts("relayer", market.call(message, b"\x01" * 65), "MarketplaceInvalidSignature")
    assert market.view("versionOf", APP, 1)[1] == 0


def test_non_enrolled_relayer_cannot_carry_a_valid_signature(market: Market) -> None:
    chain = market.chain
    market.do("vendor", submission(1))
    market.fails(
        "provider",
        vote(1),
        "MarketplaceUnauthorizedRelay",
        via="outsider",
        caller=chain.addr("outsider"),
    )
    market.fails("vendor", submission(2), "MarketplaceUnauthorizedRelay", via="doctor_a")


def test_relayer_cannot_enrol_vendors_or_administrators(market: Market) -> None:
    chain = market.chain
    enrol = VendorChange(vendor=chain.addr("relayer"), enrolled=True, nonce=nonce(), deadline=FAR)
    market.fails("relayer", enrol, "MarketplaceUnauthorized")
    market.fails("inst_a_admin", enrol, "MarketplaceUnauthorized")
    grab = AdministratorChange(role=1, account=chain.addr("relayer"), nonce=nonce(), deadline=FAR)
    market.fails("relayer", grab, "MarketplaceUnauthorized")
    market.fails("provider", grab, "MarketplaceUnauthorized")


def test_one_account_cannot_hold_two_administrator_roles(market: Market) -> None:
    chain = market.chain
    double = AdministratorChange(
        role=2, account=chain.addr("provider"), nonce=nonce(), deadline=FAR
    )
    market.fails("admin", double, "MarketplaceAdministratorInUse", role=1)
    bad_role = AdministratorChange(
        role=4, account=chain.addr("outsider"), nonce=nonce(), deadline=FAR
    )
    market.fails("admin", bad_role, "MarketplaceInvalidRole", role=4)
    again = VendorChange(vendor=chain.addr("vendor"), enrolled=True, nonce=nonce(), deadline=FAR)
    market.fails("admin", again, "MarketplaceVendorUnchanged")


# -- installs and ratings -----------------------------------------------------------------


def test_install_by_a_non_admin_of_the_institution(listed: Market) -> None:
    for who in ("doctor_a", "inst_b_admin", "relayer", "vendor", "provider"):
        listed.fails(who, installation(INST_A), "MarketplaceUnauthorized")
    listed.fails("inst_a_admin", installation(99), "MarketplaceInvalidInstitution")
    listed.fails("inst_a_admin", installation(0), "MarketplaceInvalidInstitution")
    assert not listed.view("isInstalled", INST_A, APP)


def test_install_twice_uninstall_not_installed(listed: Market) -> None:
    listed.fails("inst_a_admin", installation(INST_A, install=False), "MarketplaceNotInstalled")
    listed.do("inst_a_admin", installation(INST_A))
    listed.fails("inst_a_admin", installation(INST_A), "MarketplaceAlreadyInstalled")


def test_rating_from_an_institution_that_did_not_install(listed: Market) -> None:
    listed.do("inst_a_admin", installation(INST_A))
    listed.fails("inst_b_admin", rating(INST_B, 1, 5), "MarketplaceNotInstalled")
    listed.fails("inst_b_admin", rating(INST_A, 1, 5), "MarketplaceUnauthorized")
    listed.do("inst_a_admin", installation(INST_A, install=False))
    listed.fails("inst_a_admin", rating(INST_A, 1, 5), "MarketplaceNotInstalled")
    assert listed.view("versionOf", APP, 1)[6] == 0


def test_second_rating_for_the_same_version(listed: Market) -> None:
    listed.do("inst_a_admin", installation(INST_A))
    listed.do("inst_a_admin", rating(INST_A, 1, 2))
    listed.fails("inst_a_admin", rating(INST_A, 1, 5), "MarketplaceAlreadyRated")
    assert listed.view("ratingOf", APP, 1, INST_A) == 2


@pytest.mark.parametrize("score", [0, 6, 255])
def test_rating_out_of_range(listed: Market, score: int) -> None:
    listed.do("inst_a_admin", installation(INST_A))
    listed.fails("inst_a_admin", rating(INST_A, 1, score), "MarketplaceInvalidScore", score=score)


def test_rating_a_version_never_listed(listed: Market) -> None:
    listed.do("inst_a_admin", installation(INST_A))
    listed.do("vendor", submission(2))
    listed.fails("inst_a_admin", rating(INST_A, 2, 5), "MarketplaceNotListed")


# -- status changes ------------------------------------------------------------------------


def test_status_changes_by_the_wrong_actor_or_state(listed: Market) -> None:
    for who in ("vendor", "inst_a_admin", "relayer"):
        listed.fails(who, status(1, StatusAction.SUSPEND, "x"), "MarketplaceUnauthorized")
    listed.fails("provider", status(1, StatusAction.RETIRE), "MarketplaceNotVendor")
    listed.fails("provider", status(1, StatusAction.SUSPEND), "MarketplaceMissingReason")
    listed.fails("provider", status(1, StatusAction.REINSTATE), "MarketplaceInvalidTransition")
    listed.fails("provider", status(1, 7), "MarketplaceInvalidAction", action=7)  # type: ignore[arg-type]
    assert listed.status(1) == LIVE
