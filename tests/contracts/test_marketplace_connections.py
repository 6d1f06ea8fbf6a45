"""Users' authorisations of apps and patients' revocations (``MarketplaceConnections``): the
consent screen of a SMART launch and the patient's "revoke this app", on chain.

The attacker is the relayer (it carries every message: it must not authorise or revoke in
anyone's name, nor replay a signature), a clinician whose institution did not install the
app, a stranger authorising for someone else's records, and anyone trying to reconnect an app
the patient revoked. Every refusal is a precise custom error and a failed mined transaction.
"""

from __future__ import annotations

import dataclasses

import pytest

from crypto.signing import StatusAction, client_id_hash, scope_hash
from tests.contracts.helpers import ROLE_RELAYER, Chain, args, same
from tests.contracts.marketplace_support import (
    APP,
    INST_A,
    OTHER_APP,
    SCOPES,
    Market,
    authorization,
    installation,
    revocation,
    setup_market,
    status,
)


@pytest.fixture
def market(chain: Chain) -> Market:
    """App ``APP`` Live (version 1) and installed at institution A (doctor_a's)."""
    market = setup_market(chain)
    market.list_version(1)
    market.do("inst_a_admin", installation(INST_A))
    return market


def _event(market: Market, name: str, receipt: object) -> dict[str, object]:
    return market.chain.one_event("Marketplace", name, receipt)


# -- happy paths ------------------------------------------------------------------------------


def test_clinician_authorises_an_installed_app_for_a_patient(market: Market) -> None:
    chain = market.chain
    message = authorization(chain, "doctor_a", "patient")
    receipt = market.do("doctor_a", message)
    event = _event(market, "AppAuthorized", receipt)
    assert event == {
        "appId": APP,
        "user": chain.addr("doctor_a"),
        "patient": chain.addr("patient"),
        "clientId": client_id_hash("bp-chart"),
        "scopeHash": scope_hash(SCOPES),
    }
    assert market.view("nonceUsed", chain.addr("doctor_a"), message.nonce)
    assert chain.events("Marketplace", "AppReconnected", receipt) == []


def test_patient_authorises_for_themselves_and_revokes(market: Market) -> None:
    chain = market.chain
    market.do("patient", authorization(chain, "patient", "patient"))
    receipt = market.do("patient", revocation(chain, "patient"))
    event = _event(market, "AppRevoked", receipt)
    assert same(event["patient"], chain.addr("patient"))
    assert event["appId"] == APP
    stamp = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert market.view("appRevokedAt", chain.addr("patient"), APP) == stamp
    assert market.view("appRevokedAt", chain.addr("patient"), OTHER_APP) == 0
    assert market.view("appRevokedAt", chain.addr("patient2"), APP) == 0


def test_a_patient_may_revoke_an_app_never_authorised(market: Market) -> None:
    """A pre-emptive block, even of an app not (yet) listed."""
    chain = market.chain
    market.do("patient", revocation(chain, "patient", app_id=OTHER_APP))
    assert market.view("appRevokedAt", chain.addr("patient"), OTHER_APP) > 0


def test_direct_calls_need_no_signature(market: Market) -> None:
    chain = market.chain
    chain.send("patient", market.call(revocation(chain, "patient"), b""))
    assert market.view("appRevokedAt", chain.addr("patient"), APP) > 0
    receipt = chain.send("patient", market.call(authorization(chain, "patient", "patient"), b""))
    assert _event(market, "AppReconnected", receipt)["appId"] == APP


def test_revocation_blocks_others_and_the_patient_reconnects(market: Market) -> None:
    chain = market.chain
    market.do("doctor_a", authorization(chain, "doctor_a", "patient"))
    receipt = market.do("patient", revocation(chain, "patient"))
    revoked_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    market.fails(
        "doctor_a",
        authorization(chain, "doctor_a", "patient"),
        "MarketplaceAppRevoked",
        patient=chain.addr("patient"),
        appId=APP,
        revokedAt=revoked_at,
    )
    # another patient's connection is not affected
    market.do("doctor_a", authorization(chain, "doctor_a", "patient2"))
    # the patient's own authorisation reconnects: the revocation is cleared, said so on chain
    receipt = market.do("patient", authorization(chain, "patient", "patient"))
    logs = [log["topics"][0] for log in receipt["logs"]]
    reconnected = chain.c["Marketplace"].events.AppReconnected().topic
    authorized = chain.c["Marketplace"].events.AppAuthorized().topic
    assert [bytes(t) for t in logs] == [
        bytes.fromhex(reconnected[2:]),
        bytes.fromhex(authorized[2:]),
    ]
    event = _event(market, "AppReconnected", receipt)
    assert same(event["patient"], chain.addr("patient"))
    assert event["appId"] == APP
    assert market.view("appRevokedAt", chain.addr("patient"), APP) == 0
    market.do("doctor_a", authorization(chain, "doctor_a", "patient"))
    # and the patient can revoke again
    market.do("patient", revocation(chain, "patient"))


# -- attacks ----------------------------------------------------------------------------------


def test_relayer_cannot_forge_a_users_authorisation(market: Market) -> None:
    """The relayer (or anyone) signs a message naming someone else as the user."""
    chain = market.chain
    for forger in ("relayer", "outsider", "doctor_a2", "patient"):
        message = authorization(chain, "doctor_a", "patient")
        chain.reverts(
            "relayer",
            market.call(message, chain.sig(forger, message)),
            "MarketplaceSignerMismatch",
            signer=chain.addr(forger),
            expected=chain.addr("doctor_a"),
        )


def test_relayer_cannot_forge_a_patients_revocation(market: Market) -> None:
    chain = market.chain
    for forger in ("relayer", "doctor_a", "patient2"):
        message = revocation(chain, "patient")
        chain.reverts(
            "relayer",
            market.call(message, chain.sig(forger, message)),
            "MarketplaceSignerMismatch",
            signer=chain.addr(forger),
            expected=chain.addr("patient"),
        )
    assert market.view("appRevokedAt", chain.addr("patient"), APP) == 0


def test_a_signed_message_cannot_be_altered_in_transit(market: Market) -> None:
    """Changing the patient, app or scopes of a signed authorisation recovers a stranger."""
    chain = market.chain
    message = authorization(chain, "doctor_a", "patient")
    signature = chain.sig("doctor_a", message)
    for change in (
        {"patient": chain.addr("patient2")},
        {"scope_hash": scope_hash([*SCOPES, "patient/*.rs"])},
        {"client_id": client_id_hash("evil-client")},
    ):
        altered = dataclasses.replace(message, **change)
        chain.reverts("relayer", market.call(altered, signature), "MarketplaceSignerMismatch")


def test_replayed_nonces_are_refused(market: Market) -> None:
    chain = market.chain
    for signer, message in (
        ("doctor_a", authorization(chain, "doctor_a", "patient")),
        ("patient", revocation(chain, "patient", app_id=OTHER_APP)),
    ):
        signature = chain.sig(signer, message)
        chain.send("relayer", market.call(message, signature))
        chain.reverts(
            "relayer",
            market.call(message, signature),
            "MarketplaceNonceUsed",
            signer=chain.addr(signer),
            nonce=message.nonce,
        )
    # a revocation undone by a reconnection cannot be replayed either (a fresh nonce is needed)
    message = revocation(chain, "patient")
    signature = chain.sig("patient", message)
    chain.send("relayer", market.call(message, signature))
    market.do("patient", authorization(chain, "patient", "patient"))
    chain.reverts("relayer", market.call(message, signature), "MarketplaceNonceUsed")
    assert market.view("appRevokedAt", chain.addr("patient"), APP) == 0


def test_expired_deadlines_are_refused(market: Market) -> None:
    chain = market.chain
    past = chain.now() - 1
    market.fails(
        "doctor_a",
        authorization(chain, "doctor_a", "patient", deadline=past),
        "MarketplaceSignatureExpired",
        deadline=past,
    )
    market.fails(
        "patient",
        revocation(chain, "patient", deadline=past),
        "MarketplaceSignatureExpired",
        deadline=past,
    )


def test_clinician_whose_institution_did_not_install(market: Market) -> None:
    chain = market.chain
    market.fails(
        "doctor_b",
        authorization(chain, "doctor_b", "patient"),
        "MarketplaceNotLaunchable",
        institutionId=2,
        appId=APP,
    )
    # uninstalled at A: no longer launchable there either
    market.do("inst_a_admin", installation(INST_A, install=False))
    market.fails(
        "doctor_a",
        authorization(chain, "doctor_a", "patient"),
        "MarketplaceNotLaunchable",
        institutionId=INST_A,
    )


def test_an_app_that_is_not_live(market: Market) -> None:
    chain = market.chain
    market.do("regulator", status(1, StatusAction.SUSPEND, "数据外泄 data leak"))
    for user, patient in (("doctor_a", "patient"), ("patient", "patient")):
        market.fails(user, authorization(chain, user, patient), "MarketplaceNotLive", appId=APP)
    market.fails(
        "patient",
        authorization(chain, "patient", "patient", app_id=OTHER_APP),
        "MarketplaceNotLive",
        appId=OTHER_APP,
    )


def test_non_member_may_authorise_only_for_themselves(market: Market) -> None:
    chain = market.chain
    for user, patient in (("patient", "patient2"), ("outsider", "patient")):
        market.fails(
            user,
            authorization(chain, user, patient),
            "MarketplaceNotOwnRecords",
            user=chain.addr(user),
            patient=chain.addr(patient),
        )
    # a removed clinician is no longer a member: their institution's install does not help
    con = chain.c["Consortium"].functions
    chain.send("admin", con.removeMember(chain.addr("doctor_a2")))
    market.fails(
        "doctor_a2", authorization(chain, "doctor_a2", "patient"), "MarketplaceNotOwnRecords"
    )


def test_malformed_authorisations(market: Market) -> None:
    chain = market.chain
    zero = "0x" + "00" * 20
    no_patient = dataclasses.replace(authorization(chain, "doctor_a", "patient"), patient=zero)
    market.fails("doctor_a", no_patient, "MarketplaceZeroAddress")
    market.fails(
        "doctor_a",
        authorization(chain, "doctor_a", "patient", client_id=bytes(32)),
        "MarketplaceInvalidClient",
    )


def test_double_revocation_is_refused(market: Market) -> None:
    chain = market.chain
    receipt = market.do("patient", revocation(chain, "patient"))
    revoked_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    market.fails(
        "patient",
        revocation(chain, "patient"),
        "MarketplaceAppAlreadyRevoked",
        patient=chain.addr("patient"),
        appId=APP,
        revokedAt=revoked_at,
    )
    assert market.view("appRevokedAt", chain.addr("patient"), APP) == revoked_at


def test_only_enrolled_relayers_carry_signatures(market: Market) -> None:
    """A caller that is not an enrolled relayer carrying a valid signature (a stolen
    signature without the relayer's standing), and a relayer removed from the register."""
    chain = market.chain
    for message, signer in (
        (authorization(chain, "doctor_a", "patient"), "doctor_a"),
        (revocation(chain, "patient"), "patient"),
    ):
        for carrier in ("outsider", "doctor_a2", "inst_a_admin"):
            market.fails(
                signer,
                message,
                "MarketplaceUnauthorizedRelay",
                via=carrier,
                caller=chain.addr(carrier),
            )
    con = chain.c["Consortium"].functions
    chain.send("admin", con.enrolMember(chain.addr("outsider"), 0, ROLE_RELAYER, []))
    market.do("doctor_a", authorization(chain, "doctor_a", "patient"), via="outsider")
    chain.send("admin", con.removeMember(chain.addr("outsider")))
    market.fails(
        "doctor_a",
        authorization(chain, "doctor_a", "patient"),
        "MarketplaceUnauthorizedRelay",
        via="outsider",
    )


def test_hash_views_and_typehashes(market: Market) -> None:
    chain = market.chain
    cases = (
        (
            authorization(chain, "doctor_a", "patient", nonce=2**256 - 1),
            "hashAppAuthorization",
            "APP_AUTHORIZATION_TYPEHASH",
        ),
        (
            revocation(chain, "patient", deadline=2**64 - 1),
            "hashAppRevocation",
            "APP_REVOCATION_TYPEHASH",
        ),
    )
    for message, view, typehash in cases:
        assert bytes(getattr(market.f, view)(args(message)).call()) == message.struct_hash()
        assert bytes(getattr(market.f, typehash)().call()) == type(message).type_hash()
