"""The Python binding (``ledger_api.chain.marketplace``) over the real contract: builders make
messages with fresh nonces, the wrapper sends them through a real ``Relayer``, the views decode
into dataclasses, and reverts surface by their custom error names."""

from __future__ import annotations

import pytest

from crypto.signing import (
    AdministratorRole,
    StatusAction,
    client_id_hash,
    manifest_digest,
    scope_hash,
)
from ledger_api.chain import marketplace as mk
from ledger_api.chain.client import ChainClient
from ledger_api.chain.errors import InvalidChainInputError, TransactionRevertedError
from ledger_api.chain.relayer import Relayer
from tests.contracts.helpers import FAR, Chain
from tests.contracts.marketplace_support import APP, INST_A, ROLES, manifest, setup_market


@pytest.fixture
def client(chain: Chain) -> ChainClient:
    setup_market(chain)
    relayer = Relayer(chain.w3, chain.accounts["relayer"].key)
    return ChainClient.bind(chain.w3, deployment=chain.deployment, relayer=relayer)


def test_listing_installing_rating_through_the_binding(chain: Chain, client: ChainClient) -> None:
    market = client.marketplace
    assert market.address == chain.deployment.address("Marketplace")
    acct = chain.accounts
    assert market.is_vendor(chain.addr("vendor"))
    assert market.administrator_role_of(chain.addr("regulator")) is AdministratorRole.REGULATOR
    assert market.administrator(AdministratorRole.CONSORTIUM_AUTHORITY) == chain.addr("authority")

    sub = mk.submission(
        app_id=APP, version=1, manifest=manifest(1), manifest_uri="ipfs://m1", deadline=FAR
    )
    assert sub.manifest_digest == manifest_digest(manifest(1))
    assert market.hash_struct(sub) == sub.struct_hash()
    mined = market.submit_app(message=sub, signature=market.sign_as(acct["vendor"], sub)).wait()
    assert mined.event("AppSubmitted").args["vendor"] == chain.addr("vendor")

    for who in ROLES:
        ballot = mk.approval(app_id=APP, version=1, deadline=FAR)
        mined = market.vote(message=ballot, signature=market.sign_as(acct[who], ballot)).wait()
    assert mined.event("AppListed").args["version"] == 1
    info = market.version_of(APP, 1)
    assert info.status is mk.AppStatus.LIVE
    assert info.approved == frozenset(AdministratorRole)
    assert info.manifest_uri == "ipfs://m1"
    assert info.rating_average is None
    app = market.app_of(APP)
    assert (app.vendor, app.current_version, app.current_status) == (
        chain.addr("vendor"),
        1,
        mk.AppStatus.LIVE,
    )

    inst = mk.installation(institution_id=INST_A, app_id=APP, install=True, deadline=FAR)
    market.set_installation(
        message=inst, signature=market.sign_as(acct["inst_a_admin"], inst)
    ).wait()
    assert market.is_installed(INST_A, APP)
    assert market.is_launchable(INST_A, APP)
    assert market.installed_version_of(INST_A, APP) == 1
    assert market.installed_version_of(INST_A + 1, APP) == 0  # not installed there
    score = mk.rating(institution_id=INST_A, app_id=APP, version=1, score=4, deadline=FAR)
    market.rate(message=score, signature=market.sign_as(acct["inst_a_admin"], score)).wait()
    assert market.rating_of(APP, 1, INST_A) == 4
    assert market.version_of(APP, 1).rating_average == 4.0
    assert market.nonce_used(chain.addr("inst_a_admin"), score.nonce)

    stop = mk.status_change(
        app_id=APP, version=1, action=StatusAction.SUSPEND, reason="recall", deadline=FAR
    )
    market.change_status(message=stop, signature=market.sign_as(acct["provider"], stop)).wait()
    assert market.live_version_of(APP) == 0
    assert not market.is_launchable(INST_A, APP)
    assert market.installed_version_of(INST_A, APP) == 1  # still installed, not launchable


def test_reverts_carry_the_error_name(chain: Chain, client: ChainClient) -> None:
    market = client.marketplace
    sub = mk.submission(
        app_id=APP, version=1, manifest=manifest(1), manifest_uri="ipfs://m1", deadline=FAR
    )
    with pytest.raises(TransactionRevertedError) as caught:  # the relayer alone
        market.submit_app(message=sub, signature=b"").wait()
    assert caught.value.error_name == "MarketplaceNotVendor"
    signature = market.sign_as(chain.accounts["vendor"], sub)
    market.submit_app(message=sub, signature=signature).wait()
    with pytest.raises(TransactionRevertedError) as replay:
        market.submit_app(message=sub, signature=signature).wait()
    assert replay.value.error_name == "MarketplaceNonceUsed"


def test_bad_input_is_refused_before_sending(client: ChainClient) -> None:
    market = client.marketplace
    with pytest.raises(InvalidChainInputError, match="rating is 1 to 5"):
        mk.rating(institution_id=1, app_id=APP, version=1, score=6, deadline=FAR)
    with pytest.raises(InvalidChainInputError, match="needs a reason"):
        mk.rejection(app_id=APP, version=1, reason="", deadline=FAR)
    with pytest.raises(InvalidChainInputError, match="needs a reason"):
        mk.status_change(app_id=APP, version=1, action=StatusAction.SUSPEND, deadline=FAR)
    ballot = mk.approval(app_id=APP, version=1, deadline=FAR)
    with pytest.raises(InvalidChainInputError, match="signature"):
        market.vote(message=ballot, signature=b"\x01" * 64)
    with pytest.raises(InvalidChainInputError, match="app_id"):
        market.live_version_of(b"short")


def test_app_connections_through_the_binding(chain: Chain, client: ChainClient) -> None:
    """A clinician's authorisation, the patient's revocation (refusing the clinician's next
    one), and the patient's reconnection, all through the wrapper and a real Relayer."""
    market = client.marketplace
    acct = chain.accounts
    sub = mk.submission(
        app_id=APP, version=1, manifest=manifest(1), manifest_uri="ipfs://m1", deadline=FAR
    )
    market.submit_app(message=sub, signature=market.sign_as(acct["vendor"], sub)).wait()
    for who in ROLES:
        ballot = mk.approval(app_id=APP, version=1, deadline=FAR)
        market.vote(message=ballot, signature=market.sign_as(acct[who], ballot)).wait()
    inst = mk.installation(institution_id=INST_A, app_id=APP, install=True, deadline=FAR)
    market.set_installation(
        message=inst, signature=market.sign_as(acct["inst_a_admin"], inst)
    ).wait()

    def authorize(user: str) -> object:
        grant = mk.authorization(
            user=chain.addr(user),
            patient=chain.addr("patient"),
            app_id=APP,
            client_id="bp-chart",
            scopes=["patient/Observation.rs", "launch/patient"],
            deadline=FAR,
        )
        assert grant.client_id == client_id_hash("bp-chart")
        assert grant.scope_hash == scope_hash(["launch/patient", "patient/Observation.rs"])
        return market.authorize_app(message=grant, signature=market.sign_as(acct[user], grant))

    mined = authorize("doctor_a").wait()
    assert mined.event("AppAuthorized").args["patient"] == chain.addr("patient")
    assert market.app_revoked_at(chain.addr("patient"), APP) == 0
    stop = mk.revocation(patient=chain.addr("patient"), app_id=APP, deadline=FAR)
    mined = market.revoke_app(message=stop, signature=market.sign_as(acct["patient"], stop)).wait()
    assert mined.event("AppRevoked").args["appId"] == APP
    assert market.app_revoked_at(chain.addr("patient"), APP) > 0
    with pytest.raises(TransactionRevertedError) as refused:
        authorize("doctor_a").wait()
    assert refused.value.error_name == "MarketplaceAppRevoked"
    mined = authorize("patient").wait()
    assert [e.name for e in mined.events] == ["AppReconnected", "AppAuthorized"]
    assert market.app_revoked_at(chain.addr("patient"), APP) == 0
    with pytest.raises(InvalidChainInputError, match="patient"):
        market.app_revoked_at("0x12", APP)
    with pytest.raises(InvalidChainInputError, match="without spaces"):
        mk.authorization(
            user=chain.addr("patient"),
            patient=chain.addr("patient"),
            app_id=APP,
            client_id="bp-chart",
            scopes=["patient/*.rs launch"],
            deadline=FAR,
        )
