"""Consent expiry with the chain's clock moved forward: no transaction, the grant just ends.

The chain clock is moved with anvil's ``evm_increaseTime`` + ``evm_mine`` (dev tooling, tests
only), so this module runs on an anvil of its own: a clock an hour ahead would disturb the
other packages' tests on the shared session node.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_api.chain.anvil import AnvilProcess, free_port
from tests.api.conftest import Stack


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    node = AnvilProcess(port=free_port(), log_file=tmp_path_factory.mktemp("anvil") / "a.log")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def chain_now(stack: Stack) -> int:
    return int(stack.w3.eth.get_block("latest")["timestamp"])


def listing(stack: Stack, **params: object) -> list[dict[str, object]]:
    answer = stack.client.get(
        "/consents",
        headers=stack.login(stack.patient),
        params={"patient": stack.patient.address, **params},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_an_expired_consent_stops_granting_without_a_transaction(api_stack: Stack) -> None:
    stack = api_stack
    record_id, header, body = stack.make_record(stack.patient, "dept:cardiology", b"{}")
    assert (
        stack.upload(
            stack.patient, record_id=record_id, patient=stack.patient, header=header, body=body
        ).status_code
        == 201
    )
    expires_at = chain_now(stack) + 3600
    stack.grant(stack.patient, stack.cardiologist, expires_at=expires_at)
    stack.wait_indexed()
    path = f"/records/0x{record_id.hex()}"
    assert stack.client.get(path, headers=stack.login(stack.cardiologist)).status_code == 200
    [item] = listing(stack, expiring_within="2h")
    assert item["active"] is True
    assert item["expired"] is False
    assert item["expires_at"] == expires_at
    assert listing(stack, expiring_within="30") == []  # ends later than 30 s from now

    stack.w3.provider.make_request("evm_increaseTime", [3601])
    stack.w3.provider.make_request("evm_mine", [])

    refused = stack.client.get(path, headers=stack.login(stack.cardiologist))
    assert refused.status_code == 403, refused.text
    [item] = listing(stack)
    assert item["active"] is False
    assert item["expired"] is True
    assert item["revoked"] is False  # it ended by time, nothing was sent
    assert listing(stack, expiring_within="2h") == []
    revoked = stack.ctx.chain.consents.contract.events.ConsentRevoked.get_logs(
        from_block=stack.deployment.block_number
    )
    assert revoked == []  # no revocation was ever sent
    bad = stack.client.get(
        "/consents",
        headers=stack.login(stack.patient),
        params={"patient": stack.patient.address, "expiring_within": "soon"},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_window"
