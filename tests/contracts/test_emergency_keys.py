"""EmergencyKeys: the DKG board of the consortium emergency key (a real GJKR ceremony run
through the contract's events), its activation once every authority confirms the same key,
and share releases bounded by a live opening of the record's patient made after the record."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from eth_utils import keccak

from crypto.keys import generate_x25519_keypair
from crypto.threshold.ceremony import Board, accused_of, outcome, qual_of
from crypto.threshold.dkg import Deal, FeldmanCommitments, Participant
from crypto.threshold.keys import EmergencyPublicKey
from crypto.threshold.tdh2 import combine, decrypt_share, emergency_label, encrypt
from tests.contracts.emergency_keys_support import signer
from tests.contracts.helpers import Chain, b32, register, rid, same
from tests.contracts.test_emergency_access import open_call, opening

KIND_TRANSPORT, KIND_DEAL, KIND_FELDMAN = 1, 2, 3
KIND_COMPLAINT, KIND_REVEAL, KIND_FELDMAN_COMPLAINT = 4, 5, 6
HOURS_4 = 4 * 3600
PHASE = 60  # seconds per board phase in these tests


def open_round(chain: Chain, key_round: int, t: int, institutions, quorum=None, phase=PHASE):
    n = len(institutions)
    quorum = min(n, 2 * t - 1) if quorum is None else quorum
    return chain.send("admin", ek(chain).openRound(key_round, t, institutions, quorum, phase))


def mask(*indices: int) -> int:
    return sum(1 << (i - 1) for i in indices)


def ek(chain: Chain):
    return chain.c["EmergencyKeys"].functions


def run_ceremony(chain: Chain, key_round: int = 1, t: int = 2, n: int = 3) -> EmergencyPublicKey:
    """Every authority posts its messages on chain; each reads them back from the events."""
    open_round(chain, key_round, t, list(range(1, n + 1)))
    pairs = {j: generate_x25519_keypair() for j in range(1, n + 1)}
    people = {j: Participant(key_round, j, t, n, pairs[j].private_key) for j in pairs}
    for j in people:
        chain.send(signer(f"a{j}"), ek(chain).post(key_round, KIND_TRANSPORT, pairs[j].public_key))
    posted = chain.c["EmergencyKeys"].events.DkgMessagePosted().get_logs(from_block=0)
    transport = {
        e["args"]["index"]: e["args"]["payload"]
        for e in posted
        if e["args"]["round"] == key_round and e["args"]["kind"] == KIND_TRANSPORT
    }
    for j, p in people.items():
        chain.send(
            signer(f"a{j}"), ek(chain).post(key_round, KIND_DEAL, p.deal(transport).to_bytes())
        )
    b = Board(key_round=key_round, t=t, n=n)
    for e in chain.c["EmergencyKeys"].events.DkgMessagePosted().get_logs(from_block=0):
        a = e["args"]
        if a["round"] == key_round and a["kind"] == KIND_DEAL:
            deal = Deal.from_bytes(a["payload"], t=t, n=n)
            assert deal.dealer == a["index"]  # the board, not the payload, says who posted
            b.deals[a["index"]] = deal
    for j, p in people.items():
        assert p.receive(b.deals) == []
        chain.send(signer(f"a{j}"), ek(chain).post(key_round, KIND_COMPLAINT, b"\x80"))
    for j in people:
        chain.send(signer(f"a{j}"), ek(chain).post(key_round, KIND_REVEAL, b"\x80"))
    qual = qual_of(b)
    for j in sorted(qual):
        chain.send(
            signer(f"a{j}"), ek(chain).post(key_round, KIND_FELDMAN, people[j].feldman().to_bytes())
        )
    for e in chain.c["EmergencyKeys"].events.DkgMessagePosted().get_logs(from_block=0):
        a = e["args"]
        if a["round"] == key_round and a["kind"] == KIND_FELDMAN:
            b.feldman[a["index"]] = FeldmanCommitments.from_bytes(a["payload"], t=t, n=n)
    assert accused_of(b) == frozenset()
    key = outcome(b).public_key
    for j in people:
        receipt = chain.send(
            signer(f"a{j}"),
            ek(chain).confirmKey(
                key_round, key.h_bytes(), key.verification_keys_bytes(), mask(*sorted(qual))
            ),
        )
    activated = chain.one_event("EmergencyKeys", "EmergencyKeyActivated", receipt)
    assert activated["publicKey"] == key.h_bytes()
    shares = {j: p.secret_share(qual) for j, p in people.items()}
    run_ceremony.shares = shares  # type: ignore[attr-defined]
    return key


def test_a_ceremony_on_the_board_gives_a_key_every_authority_shares(board: Chain) -> None:
    key = run_ceremony(board)
    assert ek(board).currentRound().call() == 1
    t, h, vks = ek(board).keyOf(1).call()
    on_chain = EmergencyPublicKey.from_parts(key_round=1, t=t, h=h, verification_keys=vks)
    assert on_chain == key
    assert ek(board).roundOf(1).call()[2:4] == [3, True]
    shares = run_ceremony.shares  # type: ignore[attr-defined]
    assert all(s.matches(on_chain) for s in shares.values())
    label = emergency_label(record_id=rid("r"), patient=board.addr("patient"), key_round=1)
    m = os.urandom(32)
    ct = encrypt(on_chain, m, label)
    ds = [decrypt_share(on_chain, ct, label, index=j, secret_share=shares[j].x) for j in (1, 3)]
    assert combine(on_chain, ct, label, ds) == m


def test_opening_a_round_is_the_admins_and_checked(board: Chain) -> None:
    f = ek(board)
    board.reverts(
        "inst_a_admin", f.openRound(1, 2, [1, 2, 3], 3, PHASE), "EmergencyKeysUnauthorized"
    )
    board.reverts("admin", f.openRound(1, 0, [1, 2], 2, PHASE), "EmergencyKeysInvalidThreshold")
    board.reverts("admin", f.openRound(1, 3, [1, 2], 2, PHASE), "EmergencyKeysInvalidThreshold")
    # the quorum: at least min(n, 2t - 1), at most n; the admin cannot lower it to t
    board.reverts(
        "admin",
        f.openRound(1, 2, [1, 2, 3], 2, PHASE),
        "EmergencyKeysInvalidQuorum",
        quorum=2,
        least=3,
    )
    board.reverts("admin", f.openRound(1, 2, [1, 2, 3], 4, PHASE), "EmergencyKeysInvalidQuorum")
    board.reverts("admin", f.openRound(1, 2, [1, 2], 2, 29), "EmergencyKeysInvalidPhase")
    board.reverts("admin", f.openRound(1, 2, [1, 2], 2, 7 * 86400 + 1), "EmergencyKeysInvalidPhase")
    board.reverts(
        "admin",
        f.openRound(1, 2, [1, 1, 2], 3, PHASE),
        "EmergencyKeysInvalidInstitution",
        institutionId=1,
    )
    board.reverts(  # an institution that does not exist: the register says so
        "admin",
        f.openRound(1, 2, [1, 9], 2, PHASE),
        "ConsortiumUnknownInstitution",
        institutionId=9,
    )
    fourth_admin = Account.from_key(keccak(text="medledger test inst d admin"))
    con = board.c["Consortium"].functions
    board.send("admin", con.addInstitution("成华区", b32("chenghua"), fourth_admin.address))
    board.reverts(  # one without a registered authority
        "admin",
        f.openRound(1, 2, [1, 4], 2, PHASE),
        "EmergencyKeysInvalidInstitution",
        institutionId=4,
    )
    board.reverts("admin", f.openRound(0, 2, [1, 2], 2, PHASE), "EmergencyKeysStaleRound")
    receipt = open_round(board, 5, 2, [3, 1, 2])
    ev = board.one_event("EmergencyKeys", "DkgRoundOpened", receipt)
    assert ev["institutions"] == [3, 1, 2]
    assert (ev["quorum"], ev["phaseSeconds"]) == (3, PHASE)
    assert f.scheduleOf(5).call() == [3, ev["openedAt"], PHASE]
    assert f.indexOf(5, signer("a1").address).call() == [2, 1]
    assert f.indexOf(5, board.addr("doctor_a")).call() == [0, 0]
    board.reverts(
        "admin", f.openRound(5, 2, [1, 2], 2, PHASE), "EmergencyKeysStaleRound", round=5, latest=5
    )


def test_the_board_accepts_only_the_rounds_authorities_once_each(board: Chain) -> None:
    f = ek(board)
    open_round(board, 1, 2, [1, 2])
    board.reverts("doctor_a", f.post(1, KIND_DEAL, b"x"), "EmergencyKeysUnauthorized")
    board.reverts(signer("a3"), f.post(1, KIND_DEAL, b"x"), "EmergencyKeysUnauthorized")
    board.reverts(signer("a1"), f.post(2, KIND_DEAL, b"x"), "EmergencyKeysRoundClosed", round=2)
    board.reverts(signer("a1"), f.post(1, 0, b"x"), "EmergencyKeysInvalidMessage")
    board.reverts(signer("a1"), f.post(1, 8, b"x"), "EmergencyKeysInvalidMessage")
    board.reverts(signer("a1"), f.post(1, KIND_DEAL, b""), "EmergencyKeysInvalidMessage")
    board.reverts(signer("a1"), f.post(1, KIND_DEAL, b"x" * 8193), "EmergencyKeysInvalidMessage")
    # phases in order: no deal while transport keys are still expected
    board.reverts(signer("a1"), f.post(1, KIND_DEAL, b"deal"), "EmergencyKeysWrongPhase", phase=0)
    for j in (1, 2):
        board.send(signer(f"a{j}"), f.post(1, KIND_TRANSPORT, b"k" * 32))
    receipt = board.send(signer("a1"), f.post(1, KIND_DEAL, b"deal"))
    ev = board.one_event("EmergencyKeys", "DkgMessagePosted", receipt)
    assert (ev["round"], ev["index"], ev["kind"], ev["payload"]) == (1, 1, KIND_DEAL, b"deal")
    board.reverts(signer("a1"), f.post(1, KIND_DEAL, b"again"), "EmergencyKeysAlreadyPosted")
    board.send(signer("a2"), f.post(1, KIND_DEAL, b"deal"))
    board.send(signer("a1"), f.post(1, 4, b"complaints"))  # a list, posted once
    board.reverts(signer("a1"), f.post(1, 4, b"more"), "EmergencyKeysAlreadyPosted", kind=4)


def test_the_key_activates_only_when_all_confirm_the_same_bytes(board: Chain) -> None:
    f = ek(board)
    deal_all(board, 1, [1, 2])
    h, vks, both = os.urandom(48), os.urandom(96), mask(1, 2)
    board.reverts(signer("a1"), f.confirmKey(1, h[:47], vks, both), "EmergencyKeysInvalidKey")
    board.reverts(signer("a1"), f.confirmKey(1, h, vks + h, both), "EmergencyKeysInvalidKey")
    board.send(signer("a1"), f.confirmKey(1, h, vks, both))
    board.reverts(signer("a1"), f.confirmKey(1, h, vks, both), "EmergencyKeysAlreadyPosted")
    board.send(signer("a2"), f.confirmKey(1, h, os.urandom(96), both))  # disagrees
    assert f.roundOf(1).call()[3] is False
    assert f.currentRound().call() == 0
    # a new round, where both agree
    deal_all(board, 2, [1, 2])
    board.send(signer("a1"), f.confirmKey(2, h, vks, both))
    assert f.currentRound().call() == 0
    receipt = board.send(signer("a2"), f.confirmKey(2, h, vks, both))
    assert board.one_event("EmergencyKeys", "EmergencyKeyActivated", receipt)["qualified"] == both
    assert f.currentRound().call() == 2
    assert f.keyOf(2).call() == [2, h, vks]
    board.reverts(signer("a1"), f.post(2, 4, b"late"), "EmergencyKeysRoundClosed")


def deal_all(chain: Chain, key_round: int, institutions: list[int], t: int = 2) -> None:
    """Open a round where every authority posts a transport key and a (dummy) deal."""
    open_round(chain, key_round, t, institutions)
    for kind in (KIND_TRANSPORT, KIND_DEAL):
        for j in range(1, len(institutions) + 1):
            chain.send(signer(f"a{institutions[j - 1]}"), ek(chain).post(key_round, kind, b"m"))


# --- releases ----------------------------------------------------------------------------------


@pytest.fixture
def keyed(board: Chain) -> Chain:
    f = ek(board)
    deal_all(board, 1, [1, 2, 3])
    h, vks = os.urandom(48), os.urandom(144)
    for j in (1, 2, 3):
        board.send(signer(f"a{j}"), f.confirmKey(1, h, vks, mask(1, 2, 3)))
    return board


def test_release_needs_a_live_opening_of_the_records_patient_made_after_it(keyed: Chain) -> None:
    chain = keyed
    f = ek(chain)
    before = [register(chain, "before-1"), register(chain, "before-2")]
    others = register(chain, "other-patient", patient="patient2")
    chain.mine(chain.now() + 5)
    o = opening(chain, "bg1", window=HOURS_4)
    receipt = chain.send("relayer", open_call(chain, o))
    opened_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert chain.c["EmergencyAccess"].functions.openedAtOf(o.id).call() == opened_at
    after = register(chain, "after")
    # the view an authority asks first
    assert same(f.checkRelease(o.id, before).call(), chain.addr("patient"))
    receipt = chain.send(signer("a2"), f.releaseShares(o.id, before))
    events = chain.events("EmergencyKeys", "EmergencyShareReleased", receipt)
    assert [e["recordId"] for e in events] == before
    for e in events:
        assert e["openingId"] == o.id
        assert same(e["patient"], chain.addr("patient"))
        assert same(e["authority"], signer("a2").address)
        assert (e["institutionId"], e["round"], e["index"]) == (2, 1, 2)
    chain.reverts(
        signer("a1"),
        f.releaseShares(o.id, [after]),
        "EmergencyKeysRecordAfterOpening",
        recordId=after,
    )
    chain.reverts(signer("a1"), f.releaseShares(o.id, [others]), "EmergencyKeysWrongPatient")
    chain.reverts(signer("a1"), f.releaseShares(o.id, [rid("nope")]), "EmergencyKeysUnknownRecord")
    chain.reverts(
        signer("a1"), f.releaseShares(rid("no opening"), before), "EmergencyKeysUnknownOpening"
    )
    chain.reverts(
        signer("a1"), f.releaseShares(o.id, [before[0], after]), "EmergencyKeysRecordAfterOpening"
    )
    chain.reverts(signer("a1"), f.releaseShares(o.id, []), "EmergencyKeysInvalidBatch")
    chain.reverts(
        signer("a1"), f.releaseShares(o.id, [before[0]] * 129), "EmergencyKeysInvalidBatch"
    )
    for who in ("doctor_a", "relayer", "admin", "key_authority"):
        chain.reverts(who, f.releaseShares(o.id, before), "EmergencyKeysUnauthorized")
    # once the window has ended, nothing more is released
    chain.mine(opened_at + HOURS_4)
    chain.reverts(signer("a1"), f.releaseShares(o.id, before), "EmergencyKeysOpeningExpired")


def test_a_record_registered_in_the_openings_second_is_refused(keyed: Chain) -> None:
    chain = keyed
    ts = chain.now() + 10
    chain.w3.provider.make_request("evm_setAutomine", [False])
    try:
        chain.set_next_timestamp(ts)
        o = opening(chain, "same-second")
        from tests.contracts.helpers import args, registration

        reg = registration(rid("same"), chain.addr("patient"))
        rr = chain.c["RecordRegistry"].functions.register(args(reg), chain.sig("doctor_a", reg))
        relayer = chain.accounts["relayer"]
        nonce = chain.w3.eth.get_transaction_count(relayer.address)
        hashes = []
        for k, call in enumerate((rr, open_call(chain, o))):
            tx = call.build_transaction(
                {
                    "from": relayer.address,
                    "nonce": nonce + k,
                    "gasPrice": 0,
                    "gas": 1_000_000,
                    "chainId": chain.w3.eth.chain_id,
                }
            )
            hashes.append(
                chain.w3.eth.send_raw_transaction(relayer.sign_transaction(tx).raw_transaction)
            )
        chain.w3.provider.make_request("evm_mine", [])
    finally:
        chain.w3.provider.make_request("evm_setAutomine", [True])
    assert all(chain.w3.eth.get_transaction_receipt(h)["status"] == 1 for h in hashes)
    chain.reverts(
        signer("a1"),
        ek(chain).releaseShares(o.id, [rid("same")]),
        "EmergencyKeysRecordAfterOpening",
    )


def test_no_release_before_a_key_exists(board: Chain) -> None:
    record = register(board, "r")
    board.mine(board.now() + 2)
    o = opening(board, "bg-nokey")
    board.send("relayer", open_call(board, o))
    board.reverts(signer("a1"), ek(board).releaseShares(o.id, [record]), "EmergencyKeysNoKey")


def test_a_replaced_authority_signer_takes_over_its_index(keyed: Chain) -> None:
    chain = keyed
    record = register(chain, "r")
    chain.mine(chain.now() + 2)
    o = opening(chain, "bg-replaced")
    chain.send("relayer", open_call(chain, o))
    new = signer("a1-new")
    con = chain.c["Consortium"].functions
    chain.send("inst_a_admin", con.registerAuthority(1, b"\x22" * 32, new.address, "http://x/1b"))
    chain.reverts(
        signer("a1"), ek(chain).releaseShares(o.id, [record]), "EmergencyKeysUnauthorized"
    )
    receipt = chain.send(new, ek(chain).releaseShares(o.id, [record]))
    assert chain.one_event("EmergencyKeys", "EmergencyShareReleased", receipt)["index"] == 1


# --- absent authorities ------------------------------------------------------------------------


def board_of(chain: Chain, key_round: int = 1) -> dict:
    phase, deadline, transported, dealt, qualified, failed = ek(chain).boardOf(key_round).call()
    return {
        "phase": phase,
        "deadline": deadline,
        "transported": transported,
        "dealt": dealt,
        "qualified": qualified,
        "failed": failed,
    }


def run_without(chain: Chain, absent: set[int], *, t: int = 2, n: int = 3):
    """A real ceremony among authorities 1..n where ``absent`` post nothing: the others wait
    for the transport phase's deadline (the chain's clock moved), then go on among themselves."""
    f = ek(chain)
    receipt = open_round(chain, 1, t, list(range(1, n + 1)), quorum=min(n, 2 * t - 1))
    opened = chain.one_event("EmergencyKeys", "DkgRoundOpened", receipt)["openedAt"]
    present = [j for j in range(1, n + 1) if j not in absent]
    pairs = {j: generate_x25519_keypair() for j in present}
    people = {j: Participant(1, j, t, n, pairs[j].private_key) for j in present}
    for j in present:
        chain.send(signer(f"a{j}"), f.post(1, KIND_TRANSPORT, pairs[j].public_key))
    assert board_of(chain)["phase"] == 0  # still waiting for the absent one
    chain.reverts(  # nobody deals before the transport phase closes
        signer(f"a{present[0]}"),
        f.post(1, KIND_DEAL, b"early"),
        "EmergencyKeysWrongPhase",
        phase=0,
    )
    chain.mine(opened + PHASE)  # the transport phase's deadline
    state = board_of(chain)
    assert state["phase"] == 1
    assert state["transported"] == mask(*present)
    transport = {j: pairs[j].public_key for j in present}
    b = Board(key_round=1, t=t, n=n)
    for j in present:
        deal = people[j].deal(transport)
        chain.send(signer(f"a{j}"), f.post(1, KIND_DEAL, deal.to_bytes()))
        b.deals[j] = deal
    assert board_of(chain)["phase"] == 2  # every transport poster dealt: closed early
    for j in present:
        assert people[j].receive(b.deals) == []
        chain.send(signer(f"a{j}"), f.post(1, KIND_COMPLAINT, b"\x80"))
    for j in present:
        chain.send(signer(f"a{j}"), f.post(1, KIND_REVEAL, b"\x80"))
    qual = qual_of(b)
    for j in sorted(qual):
        chain.send(signer(f"a{j}"), f.post(1, KIND_FELDMAN, people[j].feldman().to_bytes()))
        b.feldman[j] = people[j].feldman()
    assert accused_of(b) == frozenset()
    return outcome(b), people, opened


def test_an_absent_authority_is_left_out_and_the_others_make_the_key(board: Chain) -> None:
    """t = 2 of n = 4 with quorum 3: authority 4 never shows up; QUAL = {1, 2, 3}."""
    fourth_admin = Account.from_key(keccak(text="medledger test inst d admin"))
    con = board.c["Consortium"].functions
    board.send("admin", con.addInstitution("成华区", b32("chenghua"), fourth_admin.address))
    board.send(
        fourth_admin,
        con.registerAuthority(4, b"\x11" * 32, signer("a4").address, "http://x/4"),
    )
    f = ek(board)
    result, people, _ = run_without(board, {4}, t=2, n=4)
    assert result.qual == frozenset({1, 2, 3})
    key = result.public_key
    h, vks = key.h_bytes(), key.verification_keys_bytes()
    # the absent authority cannot confirm anything, nor post late
    board.reverts(signer("a4"), f.confirmKey(1, h, vks, mask(1, 2, 3)), "EmergencyKeysNotQualified")
    board.reverts(
        signer("a4"), f.confirmKey(1, h, vks, mask(1, 2, 3, 4)), "EmergencyKeysNotQualified"
    )
    board.reverts(signer("a4"), f.post(1, KIND_COMPLAINT, b"\x80"), "EmergencyKeysWrongPhase")
    # a QUAL naming a non-dealer, or below the quorum, is refused
    board.reverts(
        signer("a1"), f.confirmKey(1, h, vks, mask(1, 2, 3, 4)), "EmergencyKeysInvalidQual"
    )
    board.reverts(signer("a1"), f.confirmKey(1, h, vks, mask(1, 2)), "EmergencyKeysInvalidQual")
    for j in (1, 2):
        board.send(signer(f"a{j}"), f.confirmKey(1, h, vks, mask(1, 2, 3)))
    assert f.currentRound().call() == 0  # 3 of QUAL has not confirmed yet
    receipt = board.send(signer("a3"), f.confirmKey(1, h, vks, mask(1, 2, 3)))
    activated = board.one_event("EmergencyKeys", "EmergencyKeyActivated", receipt)
    assert activated["qualified"] == mask(1, 2, 3)
    assert f.currentRound().call() == 1
    assert board_of(board)["qualified"] == mask(1, 2, 3)
    on_chain = EmergencyPublicKey.from_parts(key_round=1, t=2, h=h, verification_keys=vks)
    shares = {j: p.secret_share(result.qual) for j, p in people.items()}
    assert all(s.matches(on_chain) for s in shares.values())
    label = emergency_label(record_id=rid("r"), patient=board.addr("patient"), key_round=1)
    m = os.urandom(32)
    ct = encrypt(on_chain, m, label)
    ds = [decrypt_share(on_chain, ct, label, index=j, secret_share=shares[j].x) for j in (1, 3)]
    assert combine(on_chain, ct, label, ds) == m
    # the excluded authority releases nothing under the round's key
    record = register(board, "r-abs")
    board.mine(board.now() + 2)
    o = opening(board, "bg-absent")
    board.send("relayer", open_call(board, o))
    board.reverts(
        signer("a4"), f.releaseShares(o.id, [record]), "EmergencyKeysNotQualified", index=4
    )
    board.send(signer("a1"), f.releaseShares(o.id, [record]))


def test_a_late_deal_is_refused_and_its_author_excluded(board: Chain) -> None:
    f = ek(board)
    receipt = open_round(board, 1, 1, [1, 2, 3], quorum=2)
    opened = board.one_event("EmergencyKeys", "DkgRoundOpened", receipt)["openedAt"]
    for j in (1, 2, 3):
        board.send(signer(f"a{j}"), f.post(1, KIND_TRANSPORT, b"k" * 32))
    for j in (1, 2):
        board.send(signer(f"a{j}"), f.post(1, KIND_DEAL, b"deal"))
    state = board_of(board)
    assert state["phase"] == 1
    assert state["deadline"] == opened + 2 * PHASE
    board.mine(opened + 2 * PHASE)  # the dealing deadline
    board.reverts(
        signer("a3"), f.post(1, KIND_DEAL, b"late"), "EmergencyKeysWrongPhase", kind=2, phase=2
    )
    state = board_of(board)
    assert (state["phase"], state["dealt"], state["failed"]) == (2, mask(1, 2), False)
    board.reverts(signer("a3"), f.post(1, KIND_COMPLAINT, b"\x80"), "EmergencyKeysNotQualified")
    board.send(signer("a1"), f.post(1, KIND_COMPLAINT, b"\x80"))
    h, vks = os.urandom(48), os.urandom(144)
    board.reverts(signer("a3"), f.confirmKey(1, h, vks, mask(1, 2, 3)), "EmergencyKeysNotQualified")
    board.reverts(signer("a3"), f.confirmKey(1, h, vks, mask(1, 2)), "EmergencyKeysNotQualified")
    board.reverts(signer("a1"), f.confirmKey(1, h, vks, mask(1, 2, 3)), "EmergencyKeysInvalidQual")
    # later phases close at their deadlines without anyone: the board only ever moves on
    board.mine(opened + 7 * PHASE)
    assert board_of(board)["phase"] == 7
    board.send(signer("a1"), f.confirmKey(1, h, vks, mask(1, 2)))
    board.send(signer("a2"), f.confirmKey(1, h, vks, mask(1, 2)))
    assert f.currentRound().call() == 1


def test_fewer_dealers_than_the_quorum_fail_the_round(board: Chain) -> None:
    """t = 2 of n = 3 (quorum 3): one absent, so |QUAL| ≤ 2 < quorum; and with t = 2 of 2,
    one absent leaves |QUAL| = 1 < t."""
    f = ek(board)
    receipt = open_round(board, 1, 2, [1, 2, 3])
    opened = board.one_event("EmergencyKeys", "DkgRoundOpened", receipt)["openedAt"]
    for j in (1, 2):
        board.send(signer(f"a{j}"), f.post(1, KIND_TRANSPORT, b"k" * 32))
    board.mine(opened + PHASE)
    for j in (1, 2):
        board.send(signer(f"a{j}"), f.post(1, KIND_DEAL, b"deal"))
    state = board_of(board)
    assert (state["phase"], state["failed"]) == (2, True)
    board.reverts(signer("a1"), f.post(1, KIND_COMPLAINT, b"\x80"), "EmergencyKeysInvalidQual")
    h, vks = os.urandom(48), os.urandom(144)
    board.reverts(signer("a1"), f.confirmKey(1, h, vks, mask(1, 2)), "EmergencyKeysInvalidQual")
    # |QUAL| < t: t = 2 of 2 with one absent
    receipt = open_round(board, 2, 2, [1, 2])
    opened = board.one_event("EmergencyKeys", "DkgRoundOpened", receipt)["openedAt"]
    board.send(signer("a1"), f.post(2, KIND_TRANSPORT, b"k" * 32))
    board.mine(opened + PHASE)
    board.send(signer("a1"), f.post(2, KIND_DEAL, b"deal"))
    assert board_of(board, 2)["failed"] is True
    board.reverts(signer("a1"), f.confirmKey(2, h, vks[:96], mask(1)), "EmergencyKeysInvalidQual")
    assert f.currentRound().call() == 0
