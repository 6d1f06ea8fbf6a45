"""The break-glass window ends by chain time: reads are then denied (logged with the
"window ended" reason) and no further emergency key is issued.

The chain clock is moved with anvil's ``evm_increaseTime`` + ``evm_mine`` (dev tooling, tests
only), so this module runs on an anvil of its own (as ``test_consent_expiry`` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_api.chain.anvil import AnvilProcess, free_port
from tests.api.conftest import Stack
from tests.api.support_break_glass import open_glass, share

EMERGENCY, BREAK_GLASS, BREAK_GLASS_EXPIRED = 3, 4, 13


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    node = AnvilProcess(port=free_port(), log_file=tmp_path_factory.mktemp("anvil") / "a.log")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture
def stack_settings() -> dict[str, object]:
    return {"break_glass_window_seconds": 3600}


def test_reads_end_with_the_window(api_stack: Stack) -> None:
    s = api_stack
    record_id, _, _ = share(s, s.patient, b'{"resourceType":"Condition"}')
    opening = open_glass(s, s.gp, s.patient.address).json()
    assert opening["expires_at"] - opening["opened_at"] == 3600
    path = f"/records/0x{record_id.hex()}/header"
    params = {"purpose": "emergency"}
    assert s.client.get(path, params=params, headers=s.login(s.gp)).status_code == 200

    s.w3.provider.make_request("evm_increaseTime", [3601])
    s.w3.provider.make_request("evm_mine", [])

    assert s.client.get(path, params=params, headers=s.login(s.gp)).status_code == 403
    mine = [e for e in s.access_logged() if e["accessor"] == s.gp.address]
    assert [(e["granted"], e["purpose"], e["reasonCode"]) for e in mine] == [
        (True, EMERGENCY, BREAK_GLASS),
        (False, EMERGENCY, BREAK_GLASS_EXPIRED),
    ]
    # the patient's view shows it closed, still awaiting review
    [item] = s.client.get(
        f"/patients/{s.patient.address}/break-glass", headers=s.login(s.patient)
    ).json()["items"]
    assert item["open"] is False
    assert item["reviewed"] is False
