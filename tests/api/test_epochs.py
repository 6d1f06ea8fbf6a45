"""``GET /keys/epochs``: each institution's membership epoch, floor and advances, read from
``Consortium`` (issue 16, property 6: a membership change moves its own institution's epoch
only). The API advances no epoch and holds no key: ``Consortium`` moves them itself."""

from __future__ import annotations

from tests.api.conftest import Stack


def _by_code(s: Stack) -> dict[str, dict]:
    answer = s.client.get("/keys/epochs")
    assert answer.status_code == 200, answer.text
    return {i["code"]: i for i in answer.json()["institutions"]}


def test_a_membership_change_moves_only_its_institutions_epoch(api_stack: Stack) -> None:
    s = api_stack
    s.authorities()  # both institutions register their authority: epoch 1, floor 1
    before = _by_code(s)
    assert set(before) == {"cd3h", "qyqchc"}
    for code in ("cd3h", "qyqchc"):
        assert (before[code]["registered"], before[code]["epoch"], before[code]["floor"]) == (
            True,
            1,
            1,
        )
        assert before[code]["history"] == []

    mined = s.admin_consortium.suspend_member(account=s.gp.address).wait()  # a qyqchc GP
    after = _by_code(s)
    assert after["cd3h"]["epoch"] == 1
    assert after["cd3h"]["history"] == []
    assert after["qyqchc"]["epoch"] == 2
    assert after["qyqchc"]["floor"] == 1  # raised by its admin after re-keying, not here
    [change] = after["qyqchc"]["history"]
    assert change == {
        "epoch": 2,
        "actor": s.gp.address,
        "block_number": mined.block_number,
        "tx_hash": mined.tx_hash.lower(),
    }
    s.admin_consortium.raise_epoch_floor(institution_id=s.qyqchc, floor=2).wait()
    assert _by_code(s)["qyqchc"]["floor"] == 2
