"""GJKR DKG: honest runs, complaints, disqualification, reconstruction, malformed messages."""

from __future__ import annotations

import itertools
import os

import pytest

from crypto.errors import DkgError, GroupElementError, ThresholdFormatError
from crypto.groups_native import OFF_SUBGROUP_G1
from crypto.keys import generate_x25519_keypair, seal
from crypto.threshold.ceremony import Board, accused_of, outcome, qual_of, run_local
from crypto.threshold.dkg import (
    Complaint,
    Deal,
    FeldmanCommitments,
    Participant,
    Reveal,
    sum_points,
)
from crypto.threshold.group import H_PEDERSEN, G, fr_from_int, g1_msm, lagrange_at_zero, random_fr
from crypto.threshold.tdh2 import combine, decrypt_share, emergency_label, encrypt
from tests.crypto.threshold.support import PATIENT, RECORD

LABEL = emergency_label(record_id=RECORD, patient=PATIENT, key_round=1)


def check_key(key, shares, t):
    """g^x = h for x interpolated from any t shares, g^{x_j} = h_j, and TDH2 works."""
    for subset in itertools.combinations(shares, t):
        idx = [s.index for s in subset]
        x = fr_from_int(0)
        for s in subset:
            x = x + s.x * lagrange_at_zero(idx, s.index)
        assert G * x == key.h
    for s in shares:
        assert s.matches(key)
    m = os.urandom(32)
    ct = encrypt(key, m, LABEL)
    ds = [decrypt_share(key, ct, LABEL, index=s.index, secret_share=s.x) for s in shares[:t]]
    assert combine(key, ct, LABEL, ds) == m


@pytest.mark.parametrize(("t", "n"), [(2, 3), (2, 4), (3, 5)])
def test_honest_run_gives_a_working_key(t: int, n: int) -> None:
    key, shares, board = run_local(key_round=1, t=t, n=n)
    assert qual_of(board) == frozenset(range(1, n + 1))
    assert not board.complaints
    assert not board.feldman_complaints
    # y = Π A_i0 (the secret is the sum of the dealers' z_i, which no single dealer knows)
    total = board.feldman[1].commitments[0]
    for i in range(2, n + 1):
        total = total + board.feldman[i].commitments[0]
    assert total == key.h
    check_key(key, shares, t)


class Run:
    """A ceremony driven step by step so one participant can misbehave."""

    def __init__(self, t: int, n: int) -> None:
        self.board = Board(key_round=1, t=t, n=n)
        pairs = {j: generate_x25519_keypair() for j in range(1, n + 1)}
        self.board.transport_keys = {j: p.public_key for j, p in pairs.items()}
        self.people = {j: Participant(1, j, t, n, pairs[j].private_key) for j in pairs}
        for p in self.people.values():
            self.board.deals[p.index] = p.deal(self.board.transport_keys)

    def corrupt_share(self, dealer: int, victim: int) -> None:
        deal = self.board.deals[dealer]
        boxes = dict(deal.sealed)
        boxes[victim] = seal(b"garbage", self.board.transport_keys[victim], purpose="x")
        self.board.deals[dealer] = Deal(deal.key_round, dealer, deal.commitments, boxes)

    def complain(self) -> None:
        for p in self.people.values():
            self.board.complaints.extend(p.receive(self.board.deals))

    def answer(self, liar: int | None = None) -> None:
        for p in self.people.values():
            for reveal in p.answer(self.board.complaints):
                if reveal.dealer == liar:
                    reveal = Reveal(1, liar, reveal.recipient, random_fr(), random_fr())
                self.board.reveals.append(reveal)
        for p in self.people.values():
            p.accept_reveals(self.board.reveals, self.board.deals)

    def extract(self, feldman_override=None, skip=()):
        qual = qual_of(self.board)
        for p in self.people.values():
            if p.index in qual and p.index not in skip:
                self.board.feldman[p.index] = p.feldman()
        for i, commitments in (feldman_override or {}).items():
            self.board.feldman[i] = FeldmanCommitments(1, i, commitments)
        for p in self.people.values():
            self.board.feldman_complaints.extend(p.check_feldman(self.board.feldman, qual))
        accused = accused_of(self.board)
        for p in self.people.values():
            self.board.reconstruction.extend(p.reconstruction_shares(accused))
        result = outcome(self.board)
        shares = [p.secret_share(result.qual) for p in self.people.values()]
        return result, shares


def test_a_complaint_answered_with_the_right_share_keeps_the_dealer() -> None:
    run = Run(2, 4)
    run.corrupt_share(dealer=3, victim=2)
    run.complain()
    assert run.board.complaints == [Complaint(1, 2, 3)]
    run.answer()
    result, shares = run.extract()
    assert result.qual == frozenset({1, 2, 3, 4})
    check_key(result.public_key, shares, 2)


def test_a_false_reveal_disqualifies_the_dealer() -> None:
    run = Run(2, 4)
    run.corrupt_share(dealer=3, victim=2)
    run.complain()
    run.answer(liar=3)
    result, shares = run.extract()
    assert result.qual == frozenset({1, 2, 4})
    check_key(result.public_key, shares, 2)


def test_t_complaints_disqualify_the_dealer() -> None:
    run = Run(2, 4)
    run.corrupt_share(dealer=1, victim=2)
    run.corrupt_share(dealer=1, victim=4)
    run.complain()
    run.answer()  # even with correct reveals: t revealed shares would open z_1
    result, shares = run.extract()
    assert result.qual == frozenset({2, 3, 4})
    check_key(result.public_key, shares, 2)


def test_wrong_or_missing_feldman_commitments_are_reconstructed() -> None:
    run = Run(2, 4)
    run.complain()
    run.answer()
    forged = (G * random_fr(), G * random_fr())  # dealer 2 tries to bias y
    result, shares = run.extract(feldman_override={2: forged}, skip=(4,))
    assert result.reconstructed == frozenset({2, 4})
    assert result.qual == frozenset({1, 2, 3, 4})
    check_key(result.public_key, shares, 2)


def test_too_few_reconstruction_shares_stop_the_ceremony() -> None:
    run = Run(3, 4)
    run.complain()
    run.answer()
    qual = qual_of(run.board)
    for p in run.people.values():
        if p.index != 4:
            run.board.feldman[p.index] = p.feldman()
    run.board.reconstruction.extend(run.people[1].reconstruction_shares({4}))
    with pytest.raises(DkgError, match="reconstruct dealer 4"):
        outcome(run.board)
    assert qual == frozenset({1, 2, 3, 4})


def test_malformed_board_messages_are_refused() -> None:
    run = Run(2, 3)
    deal = run.board.deals[1]
    assert Deal.from_bytes(deal.to_bytes(), t=2, n=3) == deal
    with pytest.raises(ThresholdFormatError):
        Deal.from_bytes(deal.to_bytes(), t=3, n=3)  # wrong number of commitments
    bad = (
        Deal(1, 1, (deal.commitments[0],), deal.sealed)
        .to_bytes()
        .replace(deal.commitments[0].serialize(), OFF_SUBGROUP_G1)
    )
    with pytest.raises((GroupElementError, ThresholdFormatError)):
        Deal.from_bytes(bad, t=1, n=3)
    with pytest.raises(ThresholdFormatError):
        Complaint.from_bytes(Complaint(1, 7, 1).to_bytes(), n=3)
    with pytest.raises(ThresholdFormatError):
        Reveal.from_bytes(b"\xa0", n=3)
    with pytest.raises(DkgError):
        Participant(1, 1, 4, 3, b"\x00" * 32)
    # a sealed share addressed to someone else does not open
    assert run.people[2]._open(Deal(1, 1, deal.commitments, {2: deal.sealed[3]})) is None


def test_pedersen_commitments_hide_the_constant_term() -> None:
    """C_i0 = g^{a_i0} h^{b_i0} differs from g^{a_i0}: nothing of z_i before QUAL is fixed."""
    run = Run(2, 3)
    p = run.people[1]
    assert run.board.deals[1].commitments[0] == g1_msm([G, H_PEDERSEN], [p._a[0], p._b[0]])
    assert run.board.deals[1].commitments[0] != G * p._a[0]


@pytest.mark.parametrize(("t", "n", "absent"), [(2, 4, {3}), (2, 5, {1, 5}), (3, 5, {2})])
def test_an_absent_authority_is_left_out_of_qual_and_gets_no_share(
    t: int, n: int, absent: set[int]
) -> None:
    key, shares, board = run_local(key_round=1, t=t, n=n, absent=frozenset(absent))
    present = frozenset(range(1, n + 1)) - absent
    assert set(board.deals) == present
    assert qual_of(board) == present
    assert {s.index for s in shares} == present
    for deal in board.deals.values():  # nothing was sealed to an absent authority
        assert not set(deal.sealed) & absent
    # GJKR's rule: y = Π_{i∈QUAL} A_i0, and every y_j (absent ones too) is derivable
    total = sum_points(board.feldman[i].commitments[0] for i in sorted(present))
    assert total == key.h
    assert len(key.verification_keys) == n
    check_key(key, shares, t)


def test_an_absent_and_a_disqualified_dealer_leave_qual_from_the_board() -> None:
    t, n = 2, 5
    board = Board(key_round=1, t=t, n=n)
    pairs = {j: generate_x25519_keypair() for j in (1, 2, 3, 4)}  # 5 never shows up
    board.transport_keys = {j: p.public_key for j, p in pairs.items()}
    people = {j: Participant(1, j, t, n, pairs[j].private_key) for j in pairs}
    for p in people.values():
        board.deals[p.index] = p.deal(board.transport_keys)
    deal = board.deals[4]  # dealer 4 cheats 1 and 2: t complaints disqualify it
    boxes = dict(deal.sealed)
    for victim in (1, 2):
        boxes[victim] = seal(b"garbage", board.transport_keys[victim], purpose="x")
    board.deals[4] = Deal(1, 4, deal.commitments, boxes)
    for p in people.values():
        board.complaints.extend(p.receive(board.deals))
    qual = qual_of(board)
    assert qual == frozenset({1, 2, 3})
    for p in people.values():
        if p.index in qual:
            board.feldman[p.index] = p.feldman()
    result = outcome(board)
    shares = [people[j].secret_share(result.qual) for j in sorted(qual)]
    check_key(result.public_key, shares, t)


def test_a_deal_needs_the_dealers_own_transport_key() -> None:
    pairs = {j: generate_x25519_keypair() for j in (1, 2)}
    p = Participant(1, 3, 2, 3, generate_x25519_keypair().private_key)
    with pytest.raises(DkgError, match="this authority"):
        p.deal({j: k.public_key for j, k in pairs.items()})
    with pytest.raises(DkgError):
        p.deal({1: pairs[1].public_key, 3: pairs[2].public_key, 9: pairs[2].public_key})
