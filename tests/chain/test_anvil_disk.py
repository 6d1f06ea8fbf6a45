"""anvil must not spill block states to ~/.foundry: CI machines would run out of disk.

Without ``--max-persisted-states 0`` anvil writes old states under ``~/.foundry/anvil/tmp``
once its in-memory window is full and never removes them when killed: 3,000 blocks left
about 670 MB there, and a full test run 78 GB, which filled this machine's disk.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from ledger_api.chain.anvil import AnvilProcess, free_port


def _state_dirs() -> set[str]:
    spill = Path.home() / ".foundry" / "anvil" / "tmp"
    return {p.name for p in spill.iterdir()} if spill.exists() else set()


def test_many_blocks_leave_nothing_under_foundry_home(tmp_path: Path) -> None:
    before = _state_dirs()
    node = AnvilProcess(port=free_port(), log_file=tmp_path / "anvil.log").start()
    try:
        with httpx.Client(base_url=node.url, timeout=120) as rpc:
            # anvil_mine is dev tooling; allowed in tests. 3,000 blocks overflow the in-memory
            # window (without the flag this spills one state directory, seen here).
            reply = rpc.post(
                "", json={"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": ["0xbb8"]}
            ).json()
            assert "error" not in reply, reply
            head = rpc.post(
                "", json={"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []}
            ).json()
            assert int(head["result"], 16) >= 3000
    finally:
        node.stop(kill=True)
    assert _state_dirs() - before == set()
