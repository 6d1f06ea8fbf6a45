"""The dev chain's data directory: redeploy when the chain lost the contracts, keep otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_api.chain.anvil import free_port
from ledger_api.chain.connection import connect, has_code
from ledger_api.chain.deploy import code_digest
from ledger_api.chain.devnode import DevKeys, NodeLayout, node_down, node_status, node_up
from ledger_api.chain.errors import NodeError


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "node"
    yield directory
    node_down(data_dir=directory)


def test_lost_chain_state_means_a_fresh_deployment(data_dir: Path) -> None:
    port = free_port()
    first = node_up(data_dir=data_dir, port=port)
    assert first.deployed_now
    assert first.running
    assert not first.already_running
    layout = NodeLayout(data_dir)
    assert int(layout.pid_file.read_text()) == first.pid
    assert node_down(data_dir=data_dir) == first.pid
    assert not node_status(data_dir=data_dir, port=port).running

    layout.state_file.unlink()  # the chain is gone, deployment.json still names addresses
    second = node_up(data_dir=data_dir, port=port)
    assert second.deployed_now
    w3 = connect(second.url)
    saved = json.loads(layout.deployment_file.read_text())
    assert all(has_code(w3, address) for address in saved["contracts"].values())
    assert second.addresses == saved["contracts"]


def test_a_deployment_from_an_older_release_is_replaced(data_dir: Path) -> None:
    """A data dir from before a contract existed (EmergencyAccess came later) is redeployed,
    not refused: on a dev chain a fresh deployment is the way forward."""
    port = free_port()
    first = node_up(data_dir=data_dir, port=port)
    layout = NodeLayout(data_dir)
    old = json.loads(layout.deployment_file.read_text())
    del old["contracts"]["EmergencyAccess"]
    layout.deployment_file.write_text(json.dumps(old))
    again = node_up(data_dir=data_dir, port=port)  # the fixture stops the node
    assert again.already_running
    assert again.deployed_now
    saved = json.loads(layout.deployment_file.read_text())
    assert "EmergencyAccess" in saved["contracts"]
    assert saved["contracts"]["Consortium"] != first.addresses["Consortium"]


def test_a_deployment_of_older_contracts_is_replaced(data_dir: Path) -> None:
    """Same names, other code (before the contracts checked actor signatures): the wrappers
    would speak another ABI to them, so the dev chain deploys the current contracts."""
    port = free_port()
    first = node_up(data_dir=data_dir, port=port)
    layout = NodeLayout(data_dir)
    saved = json.loads(layout.deployment_file.read_text())
    assert saved["code_digest"] == code_digest()
    again = node_up(data_dir=data_dir, port=port)
    assert not again.deployed_now  # current: kept
    old = dict(saved, code_digest="")  # as files written before the digest existed
    layout.deployment_file.write_text(json.dumps(old))
    replaced = node_up(data_dir=data_dir, port=port)
    assert replaced.deployed_now
    assert replaced.addresses["Consortium"] != first.addresses["Consortium"]
    assert json.loads(layout.deployment_file.read_text())["code_digest"] == code_digest()


def test_a_corrupt_deployment_file_is_reported(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    NodeLayout(data_dir).deployment_file.write_text("{not json")
    with pytest.raises(NodeError, match=r"deployment\.json is unreadable"):
        node_up(data_dir=data_dir, port=free_port())


def test_dev_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDLEDGER_RELAYER_KEY", "0x" + "11" * 32)
    keys = DevKeys.from_env()
    assert keys.relayer == "0x" + "11" * 32
    assert keys.deployer == DevKeys().deployer
