"""The signature rules every signed function follows (``ActorSignatures``), table-driven over
all of them: eth-account's own ``sign_typed_data`` is accepted (so Python's types are the
contracts'), a passed deadline is refused by name, malleable twins and malformed signatures
are refused, and a signature from another domain recovers a stranger who may do nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from crypto.signing import (
    SECP256K1_N,
    BreakGlassOpen,
    BreakGlassReview,
    RecordBodyRekey,
    RecordRekey,
    RecordSupersede,
    RecordWithdraw,
    ReferralAction,
    ReferralStep,
    TypedMessage,
    sign,
)
from tests.contracts.helpers import FAR, Chain, args, b32, cid_for, register, registration, rid
from tests.contracts.workflow_calls import (
    cancel,
    close,
    consult,
    consultation,
    opinion,
    refer,
)


@dataclass
class Case:
    """One signed function: its contract, the unauthorized error a stranger gets, and a
    setup returning (message, signer, call builder)."""

    contract: str
    stranger_error: str
    setup: Callable[[Chain], tuple[TypedMessage, str, Callable[[TypedMessage, bytes], Any]]]


def _fn(chain: Chain, contract: str, name: str) -> Callable[[TypedMessage, bytes], Any]:
    return lambda m, sig: getattr(chain.c[contract].functions, name)(args(m), sig)


def _register(chain: Chain):
    return (
        registration(rid("sig"), chain.addr("patient")),
        "doctor_a",
        _fn(chain, "RecordRegistry", "register"),
    )


def _rekey(chain: Chain):
    record_id = register(chain, "sig-rk")
    m = RecordRekey(
        id=record_id, version=1, header_cid=cid_for("h"), policy_hash=b32("p"), deadline=FAR
    )
    return m, "patient", _fn(chain, "RecordRegistry", "rekey")


def _rekey_body(chain: Chain):
    record_id = register(chain, "sig-rb")
    m = RecordBodyRekey(
        id=record_id,
        version=1,
        body_cid=cid_for("b"),
        header_cid=cid_for("h"),
        body_hash=keccak(text="b"),
        policy_hash=b32("p"),
        deadline=FAR,
    )
    return m, "doctor_a2", _fn(chain, "RecordRegistry", "rekeyBody")


def _supersede(chain: Chain):
    old, new = register(chain, "sig-old"), register(chain, "sig-new")
    m = RecordSupersede(id=old, new_id=new, deadline=FAR)
    return m, "patient", _fn(chain, "RecordRegistry", "supersede")


def _withdraw(chain: Chain):
    m = RecordWithdraw(id=register(chain, "sig-w"), reason_code=2, deadline=FAR)
    return m, "nurse_a", _fn(chain, "RecordRegistry", "withdraw")


def _open(chain: Chain):
    m = BreakGlassOpen(
        id=keccak(text="sig-open"),
        patient=chain.addr("patient"),
        reason_hash=keccak(text="reason"),
        window=600,
        deadline=FAR,
    )
    ea = chain.c["EmergencyAccess"].functions
    return m, "doctor_a", lambda msg, sig: ea.openBreakGlass(args(msg), sig, 0, b"")


def _review(chain: Chain):
    opened, signer, build = _open(chain)
    chain.send("relayer", build(opened, chain.sig(signer, opened)))
    m = BreakGlassReview(
        id=keccak(text="sig-open"), justified=True, note_hash=b32("n"), deadline=FAR
    )
    return m, "auditor_a", _fn(chain, "EmergencyAccess", "review")


def _workflow(name: str) -> Callable[[Chain], Callable[[TypedMessage, bytes], Any]]:
    return lambda chain: _fn(chain, "Workflow", name)


def _request_referral(chain: Chain):
    from crypto.signing import ReferralRequest

    m = ReferralRequest(
        referral_id=keccak(text="sig-ref"),
        patient=chain.addr("patient"),
        to_institution=2,
        deadline=FAR,
    )
    return m, "doctor_a", _workflow("requestReferral")(chain)


def _step_referral(chain: Chain):
    m = ReferralStep(referral_id=refer(chain, "sig"), action=ReferralAction.ACCEPT, deadline=FAR)
    return m, "doctor_b", _workflow("stepReferral")(chain)


def _request_consultation(chain: Chain):
    m = consultation(chain, keccak(text="sig-con"), invited=(2, 1))
    return m, "doctor_a", _workflow("requestConsultation")(chain)


def _opinion(chain: Chain):
    m = opinion(consult(chain, "sig-op"), cid_for("o"), b32("h"))
    return m, "doctor_b", _workflow("submitOpinion")(chain)


def _close(chain: Chain):
    m = close(consult(chain, "sig-close"), cid_for("c"), b32("c"))
    return m, "doctor_a", _workflow("closeConsultation")(chain)


def _cancel(chain: Chain):
    m = cancel(consult(chain, "sig-cancel"), b32("r"))
    return m, "doctor_a", _workflow("cancelConsultation")(chain)


def _market(chain: Chain, name: str) -> Callable[[TypedMessage, bytes], Any]:
    return _fn(chain, "Marketplace", name)


def _submit_app(chain: Chain):
    from tests.contracts.marketplace_support import setup_market, submission

    setup_market(chain)
    return submission(1), "vendor", _market(chain, "submitApp")


def _vote_app(chain: Chain):
    from tests.contracts.marketplace_support import setup_market, submission, vote

    market = setup_market(chain)
    market.do("vendor", submission(1))
    return vote(1), "regulator", _market(chain, "vote")


def _install_app(chain: Chain):
    from tests.contracts.marketplace_support import INST_A, installation, setup_market

    setup_market(chain).list_version(1)
    return installation(INST_A), "inst_a_admin", _market(chain, "setInstallation")


def _set_vendor(chain: Chain):
    from crypto.signing import VendorChange

    m = VendorChange(vendor=chain.addr("outsider"), enrolled=True, nonce=1, deadline=FAR)
    return m, "admin", _market(chain, "setVendor")


def _authorize_app(chain: Chain):
    from tests.contracts.marketplace_support import (
        INST_A,
        authorization,
        installation,
        setup_market,
    )

    market = setup_market(chain)
    market.list_version(1)
    market.do("inst_a_admin", installation(INST_A))
    return authorization(chain, "doctor_a", "patient"), "doctor_a", _market(chain, "authorizeApp")


def _revoke_app(chain: Chain):
    from tests.contracts.marketplace_support import revocation, setup_market

    setup_market(chain)
    return revocation(chain, "patient"), "patient", _market(chain, "revokeApp")


CASES = {
    "register": Case("RecordRegistry", "RecordRegistryNotAuthor", _register),
    "rekey": Case("RecordRegistry", "RecordRegistryUnauthorized", _rekey),
    "rekeyBody": Case("RecordRegistry", "RecordRegistryUnauthorized", _rekey_body),
    "supersede": Case("RecordRegistry", "RecordRegistryUnauthorized", _supersede),
    "withdraw": Case("RecordRegistry", "RecordRegistryUnauthorized", _withdraw),
    "openBreakGlass": Case("EmergencyAccess", "EmergencyAccessUnauthorized", _open),
    "review": Case("EmergencyAccess", "EmergencyAccessUnauthorized", _review),
    "requestReferral": Case("Workflow", "WorkflowUnauthorized", _request_referral),
    "stepReferral": Case("Workflow", "WorkflowUnauthorized", _step_referral),
    "requestConsultation": Case("Workflow", "WorkflowUnauthorized", _request_consultation),
    "submitOpinion": Case("Workflow", "WorkflowUnauthorized", _opinion),
    "closeConsultation": Case("Workflow", "WorkflowUnauthorized", _close),
    "cancelConsultation": Case("Workflow", "WorkflowUnauthorized", _cancel),
    "submitApp": Case("Marketplace", "MarketplaceNotVendor", _submit_app),
    "vote": Case("Marketplace", "MarketplaceUnauthorized", _vote_app),
    "setInstallation": Case("Marketplace", "MarketplaceUnauthorized", _install_app),
    "setVendor": Case("Marketplace", "MarketplaceUnauthorized", _set_vendor),
    "authorizeApp": Case("Marketplace", "MarketplaceSignerMismatch", _authorize_app),
    "revokeApp": Case("Marketplace", "MarketplaceSignerMismatch", _revoke_app),
}
NAMES = sorted(CASES)


@pytest.mark.parametrize("name", NAMES)
def test_eth_account_sign_typed_data_is_accepted(chain: Chain, name: str) -> None:
    case = CASES[name]
    message, signer, build = case.setup(chain)
    domain = chain.domain(case.contract)
    assert (
        domain.name == message.domain(chain_id=1, verifying_contract=domain.verifying_contract).name
    )
    signed = Account.sign_typed_data(
        chain.accounts[signer].key,
        domain.as_dict(),
        {message.primary_type(): message.eip712_fields()},
        message.message(),
    )
    assert bytes(signed.signature) == chain.sig(signer, message)
    receipt = chain.send("relayer", build(message, bytes(signed.signature)))
    assert receipt["status"] == 1


@pytest.mark.parametrize("name", NAMES)
def test_a_passed_deadline_is_refused_the_last_second_is_not(chain: Chain, name: str) -> None:
    case = CASES[name]
    message, signer, build = case.setup(chain)
    expired = dataclasses.replace(message, deadline=chain.now() - 1)  # type: ignore[type-var]
    chain.reverts(
        "relayer",
        build(expired, chain.sig(signer, expired)),
        f"{case.contract}SignatureExpired",
        deadline=expired.deadline,  # type: ignore[attr-defined]
    )
    last = chain.now() + 30
    just_in_time = dataclasses.replace(message, deadline=last)  # type: ignore[type-var]
    chain.set_next_timestamp(last)
    chain.send("relayer", build(just_in_time, chain.sig(signer, just_in_time)))


def _malformed(signature: bytes) -> dict[str, bytes]:
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    return {
        "malleable twin": twin,
        "v 0": signature[:64] + b"\x00",
        "v 1": signature[:64] + b"\x01",
        "v 29": signature[:64] + b"\x1d",
        "64 bytes": signature[:64],
        "66 bytes": signature + b"\x00",
        "r zero": bytes(32) + signature[32:],
    }


@pytest.mark.parametrize("name", NAMES)
def test_malleable_and_malformed_signatures_are_refused(chain: Chain, name: str) -> None:
    case = CASES[name]
    message, signer, build = case.setup(chain)
    malformed = _malformed(chain.sig(signer, message))
    for label, bad in malformed.items():
        revert = chain.call_revert(chain.accounts["relayer"], build(message, bad))
        assert revert is not None, label
        assert revert.name == f"{case.contract}InvalidSignature", (label, revert)
    twin = build(message, malformed["malleable twin"])  # mined too, and refused
    chain.reverts("relayer", twin, f"{case.contract}InvalidSignature")


@pytest.mark.parametrize("name", NAMES)
def test_a_signature_from_another_domain_recovers_a_stranger(chain: Chain, name: str) -> None:
    case = CASES[name]
    message, signer, build = case.setup(chain)
    domain = chain.domain(case.contract)
    others = [
        dataclasses.replace(domain, chain_id=domain.chain_id + 1),
        dataclasses.replace(domain, verifying_contract=chain.c["ConsentManager"].address),
        dataclasses.replace(domain, version="2"),
    ]
    for other in others:
        signature = sign(other, message, chain.accounts[signer].key)
        revert = chain.call_revert(chain.accounts["relayer"], build(message, signature))
        assert revert is not None, other
        assert revert.name == case.stranger_error, (other, revert)
