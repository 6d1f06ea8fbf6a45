"""The authorities' DKG driver over the EmergencyKeys board: three authorities, each with its
own account and key file, reach the same key; a dealer's bad share draws a complaint that its
reveal answers; a share file opens only with its passphrase."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crypto.errors import WrongPassphraseError
from crypto.keys import seal
from crypto.threshold.dkg import Deal
from crypto.threshold.tdh2 import combine, decrypt_share, emergency_label, encrypt
from ledger_api.authority.dkg import CeremonyDriver, CeremonyError, load_share
from ledger_api.chain.emergency_keys import KIND_COMPLAINT, EmergencyKeysClient
from tests.contracts.emergency_keys_support import signer, with_fourth_authority
from tests.contracts.helpers import Chain, rid

PASS = "correct horse battery staple"


def drivers(
    chain: Chain, tmp_path: Path, key_round: int = 1, t: int = 2, n: int = 3, phase: int = 600
):
    address = chain.c["EmergencyKeys"].address
    admin = EmergencyKeysClient(chain.w3, address, account=chain.accounts["admin"], gas_price=0)
    admin.open_round(key_round, t, list(range(1, n + 1)), phase_seconds=phase)
    return [
        CeremonyDriver(
            client=EmergencyKeysClient(chain.w3, address, account=signer(f"a{j}"), gas_price=0),
            key_round=key_round,
            key_file=tmp_path / f"authority-{j}.key",
            passphrase=PASS,
        )
        for j in range(1, n + 1)
    ]


def run_all(ds: list[CeremonyDriver], rounds: int = 40) -> None:
    for _ in range(rounds):
        phases = [d.step() for d in ds]
        if all(p == "done" for p in phases):
            return
    raise AssertionError(f"ceremony stuck at {[d.phase for d in ds]}")


def check(chain: Chain, ds: list[CeremonyDriver], tmp_path: Path) -> None:
    key = ds[0].client.public_key()
    shares = [load_share(tmp_path / f"authority-{d.index}.key", 1, PASS) for d in ds]
    assert all(s.matches(key) for s in shares)
    label = emergency_label(record_id=rid("x"), patient=chain.addr("patient"), key_round=1)
    m = os.urandom(32)
    ct = encrypt(key, m, label)
    for pair in ((0, 1), (1, 2), (0, 2)):
        ds_ = [decrypt_share(key, ct, label, index=i + 1, secret_share=shares[i].x) for i in pair]
        assert combine(key, ct, label, ds_) == m


def test_three_authorities_reach_one_key(board: Chain, tmp_path: Path) -> None:
    ds = drivers(board, tmp_path)
    run_all(ds)
    assert ds[0].client.current_round() == 1
    check(board, ds, tmp_path)
    # the file is encrypted: the wrong passphrase does not open it
    with pytest.raises(WrongPassphraseError):
        load_share(tmp_path / "authority-1.key", 1, "wrong")


def test_a_bad_share_is_complained_about_and_revealed(board: Chain, tmp_path: Path) -> None:
    ds = drivers(board, tmp_path)
    for d in ds:
        d.step()  # transport keys
    cheat = ds[2]._participant
    assert cheat is not None
    honest_deal = cheat.deal

    def bad_deal(keys):  # dealer 3 sends authority 1 garbage
        deal = honest_deal(keys)
        boxes = dict(deal.sealed)
        boxes[1] = seal(b"garbage", keys[1], purpose="medledger-dkg-share-v1")
        return Deal(deal.key_round, deal.dealer, deal.commitments, boxes)

    cheat.deal = bad_deal  # type: ignore[method-assign]
    run_all(ds)
    complaints = [m for m in ds[0].client.messages(1) if m.kind == KIND_COMPLAINT and m.index == 1]
    assert len(complaints) == 1
    check(board, ds, tmp_path)


def test_only_the_rounds_authorities_take_part(board: Chain, tmp_path: Path) -> None:
    address = board.c["EmergencyKeys"].address
    EmergencyKeysClient(board.w3, address, account=board.accounts["admin"], gas_price=0).open_round(
        1, 2, [1, 2]
    )
    with pytest.raises(CeremonyError, match="not the registered authority"):
        CeremonyDriver(
            client=EmergencyKeysClient(board.w3, address, account=signer("a3")),
            key_round=1,
            key_file=tmp_path / "a.key",
            passphrase=PASS,
        )
    with pytest.raises(CeremonyError, match="no DKG round 7"):
        CeremonyDriver(
            client=EmergencyKeysClient(board.w3, address, account=signer("a1")),
            key_round=7,
            key_file=tmp_path / "a.key",
            passphrase=PASS,
        )


def test_an_absent_authority_is_excluded_and_two_of_the_rest_decrypt(
    board: Chain, tmp_path: Path
) -> None:
    """t = 2 of n = 4 (quorum 3): authority 4 never runs. The three others post their
    transport keys and wait; once the chain's clock passes the phase's deadline they go on
    among themselves and the key activates with QUAL = {1, 2, 3}."""
    with_fourth_authority(board)
    everyone = drivers(board, tmp_path, t=2, n=4, phase=60)
    ds, late = everyone[:3], everyone[3]
    for d in ds:
        d.step()
    assert [d.step() for d in ds] == ["waiting for transport keys"] * 3
    state = ds[0].client.board_state(1)
    assert (state.phase, state.transported) == (0, frozenset({1, 2, 3}))
    board.mine(state.deadline)  # the transport phase's deadline passes
    run_all(ds)
    client = ds[0].client
    assert client.current_round() == 1
    state = client.board_state(1)
    assert state.dealt == frozenset({1, 2, 3})
    assert state.qualified == frozenset({1, 2, 3})
    assert all(d.qual == frozenset({1, 2, 3}) for d in ds)
    assert set(client.confirmations(1)) == {1, 2, 3}
    check(board, ds, tmp_path)
    # the latecomer is told it is excluded and writes no share
    with pytest.raises(CeremonyError, match="excluded from round 1"):
        late.step()
    assert not (tmp_path / "authority-4.key.emergency-1").exists()


def test_a_round_below_the_quorum_fails_for_every_driver(board: Chain, tmp_path: Path) -> None:
    ds = drivers(board, tmp_path, t=2, n=3, phase=60)[:2]  # quorum 3: nobody may be absent
    for d in ds:
        d.step()
    board.mine(ds[0].client.board_state(1).deadline)
    for d in ds:
        assert d.step() == "deal posted"
    board.mine(ds[0].client.board_state(1).deadline)
    for d in ds:
        with pytest.raises(CeremonyError, match="failed: 2 authorities dealt, the round needs 3"):
            d.step()
    assert ds[0].client.current_round() == 0


def test_status_says_why_each_authority_is_excluded() -> None:
    from clients.cli.authority_dkg import excluded_reason
    from ledger_api.chain.emergency_keys import BoardState

    def state(phase: int) -> BoardState:
        return BoardState(
            phase=phase,
            deadline=0,
            transported=frozenset({1, 2, 3}),
            dealt=frozenset({1, 2}),
            qualified=frozenset(),
            failed=False,
            quorum=2,
            opened_at=0,
            phase_seconds=60,
        )

    assert excluded_reason(4, state(0), None) is None  # the transport phase is still open
    assert excluded_reason(4, state(1), None) == "no transport key before the deadline"
    assert excluded_reason(3, state(1), None) is None  # may still deal
    assert excluded_reason(3, state(2), None) == "no deal before the dealing deadline"
    assert excluded_reason(2, state(4), frozenset({1})) == "disqualified by complaints"
    assert excluded_reason(1, state(4), frozenset({1})) is None


def test_a_dealer_disqualified_by_complaints_is_left_out(board: Chain, tmp_path: Path) -> None:
    """t = 2 of n = 4: dealer 4 sends garbage to 1 and 2 (t complaints): QUAL = {1, 2, 3},
    as every driver and ``dkg status`` compute from the board; 4's driver stops."""
    from clients.cli.authority_dkg import _qual_from_board, excluded_reason

    with_fourth_authority(board)
    ds = drivers(board, tmp_path, t=2, n=4, phase=60)
    for d in ds:
        d.step()  # transport keys
    cheat = ds[3]._participant
    assert cheat is not None
    honest_deal = cheat.deal

    def bad_deal(keys):
        deal = honest_deal(keys)
        boxes = dict(deal.sealed)
        for victim in (1, 2):
            boxes[victim] = seal(b"garbage", keys[victim], purpose="medledger-dkg-share-v1")
        return Deal(deal.key_round, deal.dealer, deal.commitments, boxes)

    cheat.deal = bad_deal  # type: ignore[method-assign]
    honest, dealer4 = ds[:3], ds[3]
    for _ in range(6):
        for d in ds:
            if d is dealer4 and d._done:
                continue
            if d is dealer4 and d.phase == "reveals posted":
                with pytest.raises(CeremonyError, match="disqualified by complaints"):
                    d.step()
                d._done = True  # it stops
            else:
                d.step()
    client = ds[0].client
    state = client.board_state(1)
    # 4 posts no Feldman commitments nor Feldman complaints: those two phases (whose
    # expected posters are the dealers) run to their deadlines
    assert state.phase == 4
    board.mine(state.deadline)
    for d in honest:
        d.step()
    state = client.board_state(1)
    assert state.phase == 5
    board.mine(state.deadline)
    run_all(honest)
    assert client.board_state(1).qualified == frozenset({1, 2, 3})
    assert all(d.qual == frozenset({1, 2, 3}) for d in honest)
    info = client.round_info(1)
    state = client.board_state(1)
    qual = _qual_from_board(client, 1, info, state, client.messages(1))
    assert qual == frozenset({1, 2, 3})
    assert excluded_reason(4, state, qual) == "disqualified by complaints"
    assert not (tmp_path / "authority-4.key.emergency-1").exists()
