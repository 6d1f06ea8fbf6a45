"""``GET /keys/epochs``: each institution's membership epoch and floor, and every advance,
read from ``Consortium`` (issue 16, property 6: a membership change moves its own
institution's epoch only). The API advances no epoch and holds no key: ``Consortium`` moves
them itself."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Stack


def _epochs(s: Stack) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    answer = s.client.get("/keys/epochs")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {i["code"]: i for i in body["institutions"]}, body["history"]


def test_a_membership_change_moves_only_its_institutions_epoch(api_stack: Stack) -> None:
    s = api_stack
    s.authorities()  # both institutions register their authority: epoch 1, floor 1
    before, history = _epochs(s)
    assert set(before) == {"cd3h", "qyqchc"}
    for code in ("cd3h", "qyqchc"):
        row = before[code]
        assert (row["registered"], row["epoch"], row["floor"]) == (True, 1, 1)
    assert history == []

    mined = s.admin_consortium.suspend_member(account=s.gp.address).wait()  # a qyqchc GP
    after, history = _epochs(s)
    assert after["cd3h"]["epoch"] == 1
    assert after["qyqchc"]["epoch"] == 2
    assert after["qyqchc"]["floor"] == 1  # raised by its admin after re-keying, not here
    assert history == [
        {
            "institution": s.qyqchc,
            "epoch": 2,
            "actor": s.gp.address,
            "block_number": mined.block_number,
            "tx_hash": mined.tx_hash.lower(),
        }
    ]
    s.admin_consortium.raise_epoch_floor(institution_id=s.qyqchc, floor=2).wait()
    assert _epochs(s)[0]["qyqchc"]["floor"] == 2
