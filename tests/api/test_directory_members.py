"""``GET /directory/members``: who an address is, for names beside addresses in the clients.

Only addresses the caller gives are answered, only members the chain knows are returned, and a
malformed or oversized lookup is a 422 that names the problem (never a 5xx)."""

from __future__ import annotations

from eth_account import Account

from tests.api.conftest import Stack


def test_members_are_named_and_strangers_absent(api_stack: Stack) -> None:
    stack = api_stack
    stack.wait_indexed()
    headers = stack.login(stack.patient)
    stranger = Account.create().address
    answer = stack.client.get(
        "/directory/members",
        headers=headers,
        params=[
            ("address", stack.cardiologist.address.lower()),
            ("address", stack.gp.address),
            ("address", stranger),
        ],
    )
    assert answer.status_code == 200, answer.text
    members = {m["address"]: m for m in answer.json()["members"]}
    assert set(members) == {stack.cardiologist.address, stack.gp.address}  # checksummed
    cardiologist = members[stack.cardiologist.address]
    assert cardiologist["role"] == "doctor"
    assert cardiologist["active"] is True
    assert cardiologist["institution"]["code"] == "cd3h"
    assert cardiologist["institution"]["name"] == "成都市第三人民医院"
    assert cardiologist["attributes"] == ["dept:cardiology"]
    assert members[stack.gp.address]["institution"]["code"] == "qyqchc"


def test_bad_lookups_are_422_and_anonymous_401(api_stack: Stack) -> None:
    stack = api_stack
    headers = stack.login(stack.patient)
    anonymous = stack.client.get("/directory/members", params={"address": stack.gp.address})
    assert anonymous.status_code == 401
    missing = stack.client.get("/directory/members", headers=headers)
    assert missing.status_code == 422
    malformed = stack.client.get(
        "/directory/members", headers=headers, params={"address": "0x12' OR 1=1 --"}
    )
    assert malformed.status_code == 422
    assert "0x-hex address" in malformed.json()["error"]["message"]
    too_many = [("address", Account.create().address) for _ in range(101)]
    oversized = stack.client.get("/directory/members", headers=headers, params=too_many)
    assert oversized.status_code == 422
    assert "1 to 100" in oversized.json()["error"]["message"]


def test_clinicians_of_an_institution_for_the_wallet_picker(api_stack: Stack) -> None:
    """Institution → department → doctor in the wallet: the active doctors/nurses of one place."""
    stack = api_stack
    stack.wait_indexed()
    headers = stack.login(stack.patient)
    answer = stack.client.get(
        "/directory/clinicians", headers=headers, params={"institution": "cd3h"}
    )
    assert answer.status_code == 200, answer.text
    members = answer.json()["members"]
    addresses = [m["address"] for m in members]
    assert stack.cardiologist.address in addresses
    assert stack.gp.address not in addresses  # another institution
    assert all(m["role"] in ("doctor", "nurse") for m in members)
    assert all(m["institution"]["code"] == "cd3h" for m in members)
    cardiologist = next(m for m in members if m["address"] == stack.cardiologist.address)
    assert cardiologist["attributes"] == ["dept:cardiology"]
    anonymous = stack.client.get("/directory/clinicians", params={"institution": "cd3h"})
    assert anonymous.status_code == 401
    unknown = stack.client.get(
        "/directory/clinicians", headers=headers, params={"institution": "nowhere' --"}
    )
    assert unknown.status_code == 422
    assert "no institution" in unknown.json()["error"]["message"]
    oversized = stack.client.get(
        "/directory/clinicians", headers=headers, params={"institution": "x" * 33}
    )
    assert oversized.status_code == 422
