"""Issue 16: the emergency-key ceremony tolerates an absent authority.

Real anvil, real contracts, real processes: four institutions register their authorities, the
consortium admin opens a round with t = 2 of n = 4 (quorum 3), and only three authorities run
``medledger authority dkg join``; the fourth never does. The three post their transport keys
and wait for the phase's deadline (40 s of real time: this anvil mines only on transactions,
so the drivers themselves mine an empty transaction once the wall clock is past it; no
anvil-only call is made), then go on among themselves: QUAL is {1, 2, 3}, the key activates,
``dkg status`` names the absent one as excluded and why, and a break-glass opening plus two
authorities' shares decrypt the chart.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from web3 import Web3

from clients.sdk.emergency_shares import open_emergency_slots, read_directory
from crypto.envelope import RecordBinding, decrypt_bytes_v3
from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.emergency_keys import EmergencyKeysClient
from tests.authority.emergency_support import add_institutions
from tests.authority.support import MEDLEDGER, PASSPHRASE, init_authority, register, run_cli
from tests.authority.test_emergency_threshold import open_chart, record_with_slot, releases
from tests.conftest import ANVIL_KEYS
from tests.contracts.helpers import Chain, build_world


def _join(authority, rpc: str, deployment: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *MEDLEDGER,
            *("authority", "dkg", "join", "--key-file", str(authority.key_file)),
            *("--rpc", rpc, "--deployment", str(deployment)),
            *("--passphrase-env", "AUTH_PASS", "--timeout", "120"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AUTH_PASS": PASSPHRASE},
    )


def test_one_of_four_never_joins_and_two_shares_still_open_a_chart(tmp_path: Path) -> None:
    node = AnvilProcess(port=free_port(), log_file=tmp_path / "anvil.log")
    node.start()
    authorities = {}
    try:
        chain: Chain = build_world(Web3(Web3.HTTPProvider(node.url)), ANVIL_KEYS)
        deployment = tmp_path / "deployment.json"
        chain.deployment.save(deployment)
        admins = add_institutions(chain, 4)
        authorities = {i: init_authority(tmp_path, i) for i in range(1, 5)}
        for i, authority in authorities.items():
            done = register(authority, admin_key=admins[i], rpc=node.url, deployment=deployment)
            assert done.returncode == 0, done.stderr + done.stdout
        done = run_cli(
            "authority", "dkg", "init", "--threshold", "2", "--institutions", "1,2,3,4",
            "--phase-seconds", "40",
            "--rpc", node.url, "--deployment", str(deployment), "--key-env", "ADMIN_KEY",
            env={"ADMIN_KEY": chain.accounts["admin"].key.hex()},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        assert "quorum 3, phases of 40 s" in done.stdout
        joins = [_join(authorities[i], node.url, deployment) for i in (1, 2, 3)]
        board = EmergencyKeysClient(chain.w3, chain.deployment.address("EmergencyKeys"))
        waited = time.monotonic() + 90
        while (state := board.board_state(1)).transported != frozenset({1, 2, 3}):
            assert time.monotonic() < waited, "the three authorities did not post in time"
            time.sleep(0.2)
        assert state.phase == 0  # still expecting authority 4
        assert abs(chain.now() - time.time()) < 5  # the chain's clock is the wall clock
        for process in joins:
            out, _ = process.communicate(timeout=150)
            assert process.returncode == 0, out
        assert board.current_round() == 1
        assert board.board_state(1).qualified == frozenset({1, 2, 3})

        status = run_cli(
            "authority", "dkg", "status", "--rpc", node.url, "--deployment", str(deployment)
        )
        assert status.returncode == 0, status.stderr
        assert "confirmations 3/3 complete" in status.stdout
        assert "4 (institution 4):  — EXCLUDED: no transport key before the deadline" in (
            status.stdout
        )
        assert "QUAL [1, 2, 3]" in status.stdout

        for i in (1, 2, 3):
            authorities[i].start(rpc=node.url, deployment=deployment)
        directory = read_directory(node.url, chain.deployment.address("EmergencyKeys"))
        assert (directory.key.t, directory.key.n) == (2, 4)
        chain.send("admin", chain.c["EmergencyAccess"].functions.setDailyCap(100))
        world = {"chain": chain, "authorities": authorities, "directory": directory}
        items = [record_with_slot(world, f"absent-{k}") for k in range(2)]
        o = open_chart(world, "absent-one")
        keys = open_emergency_slots(
            directory=directory,
            opening_id=o.id,
            slots=[item[0] for item in items],
            clinician=chain.accounts["doctor_a"],
        )
        for slot_item, header, body, plain in items:
            binding = RecordBinding(slot_item.record_id, slot_item.patient)
            data_key = keys[slot_item.record_id]
            assert decrypt_bytes_v3(header, body, binding=binding, data_key=data_key) == plain
        logged = releases(world, o.id)
        assert {index for index, _ in logged} == {1, 2}  # two QUAL authorities' shares
    finally:
        for authority in authorities.values():
            authority.stop()
        node.stop()
