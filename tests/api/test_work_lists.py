"""Institution work lists are for the institution's active members: a suspended or removed
member gets 403 on every one of them, at once (the index's membership row), not after the
principal cache expires. The issue's case: a suspended GP listed their institution's
referrals (``GET /referrals?institution=2``: 200)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger_api.chain.consortium import Consortium
from tests.api.conftest import Stack

WORK_LISTS = [
    "/referrals?institution={inst}",
    "/referrals?institution=qyqchc&direction=incoming",
    "/consultations?role=invited",
    "/consultations?role=requested",
]


def _suspend(consortium: Consortium, account: str) -> None:
    consortium.suspend_member(account=account).wait()


def _remove(consortium: Consortium, account: str) -> None:
    consortium.remove_member(account=account).wait()


def _codes(stack: Stack) -> list[int]:
    headers = stack.login(stack.gp)
    return [
        stack.client.get(path.format(inst=stack.qyqchc), headers=headers).status_code
        for path in WORK_LISTS
    ]


@pytest.mark.parametrize("leave", [_suspend, _remove], ids=["suspended", "removed"])
def test_a_member_who_left_gets_403_on_every_work_list(
    api_stack: Stack, leave: Callable[[Consortium, str], None]
) -> None:
    assert _codes(api_stack) == [200] * len(WORK_LISTS)  # an active GP lists them all
    leave(api_stack.admin_consortium, api_stack.gp.address)
    api_stack.wait_indexed()
    codes = _codes(api_stack)
    assert codes == [403] * len(WORK_LISTS), codes
    body = api_stack.client.get(
        f"/referrals?institution={api_stack.qyqchc}", headers=api_stack.login(api_stack.gp)
    ).json()
    assert body["error"]["code"] == "not_a_member"


def test_a_member_lists_only_their_own_institution(api_stack: Stack) -> None:
    response = api_stack.client.get(
        f"/referrals?institution={api_stack.cd3h}", headers=api_stack.login(api_stack.gp)
    )
    assert response.status_code == 403


def test_auditors_list_any_institution(api_stack: Stack) -> None:
    response = api_stack.client.get(
        f"/referrals?institution={api_stack.qyqchc}", headers=api_stack.login(api_stack.auditor)
    )
    assert response.status_code == 200
