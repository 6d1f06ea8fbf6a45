"""Property: after any sequence of grants, revocations and clock moves, ``isAllowed`` and
``isAllowedForPolicy`` agree with a small Python model of the consent rules.

Each example starts from the same chain state (``evm_snapshot`` / ``evm_revert``), so a few
dozen examples stay fast. Operations are signed with ``crypto.signing`` and relayed; the model
predicts whether each one is accepted (nonce, window, revocation matching) and the test checks
the contract agrees, then compares every query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.signing import Consent, Domain, Revocation, consent_id, sign
from tests.contracts.helpers import Chain, rid

ZERO32 = b"\x00" * 32
ZERO = "0x" + "00" * 20
RECORDS = [ZERO32, rid("p1"), rid("p2")]  # whole chart, two records
POLICIES = [rid("policy:a")]
PURPOSES = [0, 1, 3]


@dataclass
class Slot:
    not_before: int = 0
    expires_at: int = 0
    nonce: int = 0
    current: Consent | None = None


grantees = st.sampled_from(["doctor_a", "doctor_b", "policy"])
grant_op = st.tuples(
    st.just("grant"),
    grantees,
    st.sampled_from(range(len(RECORDS))),
    st.sampled_from(PURPOSES),
    st.integers(min_value=-50, max_value=60),  # not-before offset
    st.integers(min_value=1, max_value=1000),  # duration
    st.integers(min_value=0, max_value=3),  # nonce step (0 = replay / reuse)
)
revoke_op = st.tuples(st.just("revoke"), st.integers(min_value=0, max_value=20), st.booleans())
time_op = st.tuples(st.just("time"), st.integers(min_value=1, max_value=120))
operations = st.lists(st.one_of(grant_op, revoke_op, time_op), min_size=1, max_size=8)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
def test_is_allowed_matches_model(chain: Chain, ops: list[tuple]) -> None:
    snap = chain.snapshot()
    try:
        _run(chain, ops)
    finally:
        chain.revert_to(snap)


def _at(chain: Chain, t: int, call: Any, error: str | None) -> None:
    """Mine ``call`` (by the relayer) in a block stamped ``t``; it must succeed, or fail with
    ``error`` — decoded by re-running it on the unchanged state of that same block."""
    chain.set_next_timestamp(t)
    receipt = chain.send_raw("relayer", call)
    if error is None:
        assert receipt["status"] == 1, chain.call_revert(chain.accounts["relayer"], call)
        return
    assert receipt["status"] == 0, f"expected {error}, but the transaction succeeded"
    revert = chain.call_revert(chain.accounts["relayer"], call)
    assert revert is not None
    assert revert.name == error


def _run(chain: Chain, ops: list[tuple]) -> None:
    cm = chain.c["ConsentManager"].functions
    domain = Domain(
        chain_id=chain.w3.eth.chain_id, verifying_contract=chain.c["ConsentManager"].address
    )
    patient = chain.accounts["patient"]
    t = chain.now() + 10
    model: dict[tuple, Slot] = {}
    granted: list[Consent] = []
    last_nonce = 0

    def key(c: Consent) -> tuple:
        return (c.grantee, c.grantee_policy_hash, c.record_id, int(c.purpose))

    for op in ops:
        if op[0] == "time":
            t += op[1]
            continue
        t += 1  # every transaction gets its own block and timestamp
        if op[0] == "grant":
            _, who, rec, purpose, nb_off, duration, step = op
            last_nonce += step
            grantee, policy = (ZERO, POLICIES[0]) if who == "policy" else (chain.addr(who), ZERO32)
            nb = max(0, t + nb_off)
            c = Consent(
                patient=patient.address,
                grantee=grantee,
                grantee_policy_hash=policy,
                record_id=RECORDS[rec],
                purpose=purpose,
                not_before=nb,
                expires_at=nb + duration,
                nonce=last_nonce,
            )
            slot = model.get(key(c), Slot())
            if c.expires_at <= t:
                error: str | None = "ConsentManagerInvalidWindow"
            elif c.nonce <= slot.nonce:
                error = "ConsentManagerNonceUsed"
            else:
                error = None
                model[key(c)] = Slot(c.not_before, c.expires_at, c.nonce, c)
                granted.append(c)
            _at(
                chain,
                t,
                cm.grantBySig(tuple(c.message().values()), sign(domain, c, patient.key)),
                error,
            )
        else:
            _, pick, bump = op
            if not granted:
                continue
            c = granted[pick % len(granted)]
            slot = model[key(c)]
            rev_nonce = c.nonce + 1 if bump else c.nonce
            last_nonce = max(last_nonce, rev_nonce)
            rev = Revocation(
                patient=patient.address, consent_id=consent_id(c), nonce=rev_nonce, deadline=t + 50
            )
            if rev_nonce <= c.nonce:
                error = "ConsentManagerNonceUsed"
            elif slot.current != c or slot.expires_at == 0:
                error = "ConsentManagerUnknownConsent"
            else:
                error = None
                model[key(c)] = Slot(0, 0, rev_nonce, None)
            sig = sign(domain, rev, patient.key)
            _at(
                chain,
                t,
                cm.revokeBySig(tuple(c.message().values()), rev.nonce, rev.deadline, sig),
                error,
            )

    chain.mine(t + 1)
    now = t + 1
    for who in ("doctor_a", "doctor_b", "policy"):
        for record_id in [*RECORDS, rid("elsewhere")]:
            for purpose in PURPOSES:
                expected = _model_allows(model, who, chain, record_id, purpose, now)
                if who == "policy":
                    call = cm.isAllowedForPolicy(patient.address, POLICIES[0], record_id, purpose)
                else:
                    call = cm.isAllowed(patient.address, chain.addr(who), record_id, purpose)
                got = abi_decode(["bool"], chain.raw_call(call))[0]
                assert got == expected, (who, record_id.hex()[:8], purpose, ops)


def _model_allows(
    model: dict[tuple, Slot], who: str, chain: Chain, record_id: bytes, purpose: int, now: int
) -> bool:
    grantee, policy = (ZERO, POLICIES[0]) if who == "policy" else (chain.addr(who), ZERO32)
    scopes = [ZERO32] if record_id == ZERO32 else [ZERO32, record_id]
    for scope in scopes:
        slot = model.get((grantee, policy, scope, purpose))
        if slot and slot.expires_at and slot.not_before <= now < slot.expires_at:
            return True
    return False
