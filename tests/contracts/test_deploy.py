"""deploy_all wiring and the Deployment file (save/load, malformed input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

import contracts
from ledger_api.chain.deploy import Deployment, deploy_all
from ledger_api.chain.errors import ChainError, DeploymentError
from tests.conftest import ANVIL_KEYS
from tests.contracts.helpers import Chain, same


def test_deploy_all_wires_everything(chain: Chain) -> None:
    d = chain.deployment
    w3 = chain.w3
    assert d.chain_id == w3.eth.chain_id
    assert same(d.deployer, chain.addr("admin"))
    assert same(d.relayer, chain.addr("relayer"))
    assert same(d.admin, chain.addr("admin"))
    assert sorted(d.addresses()) == sorted(
        [
            "Consortium",
            "RecordRegistry",
            "ConsentManager",
            "AccessLog",
            "Workflow",
            "EmergencyAccess",
            "EmergencyKeys",
            "Marketplace",
        ]
    )
    for address in d.addresses().values():
        assert len(w3.eth.get_code(address)) > 100
    first = w3.eth.get_block(d.block_number, full_transactions=True)
    assert any(tx["to"] is None for tx in first["transactions"])  # a contract creation
    c = chain.c
    assert same(c["RecordRegistry"].functions.consortium().call(), d.address("Consortium"))
    assert same(c["AccessLog"].functions.consortium().call(), d.address("Consortium"))
    # every contract asks Consortium who relays: no relayer address is baked into any of them
    assert not any(item.get("name") == "relayer" for name in d.addresses() for item in _abi(name))
    assert same(c["Workflow"].functions.consortium().call(), d.address("Consortium"))
    assert same(c["Workflow"].functions.registry().call(), d.address("RecordRegistry"))
    assert same(c["EmergencyAccess"].functions.consortium().call(), d.address("Consortium"))
    keys = c["EmergencyKeys"].functions
    assert same(keys.consortium().call(), d.address("Consortium"))
    assert same(keys.registry().call(), d.address("RecordRegistry"))
    assert same(keys.openings().call(), d.address("EmergencyAccess"))
    assert same(c["Marketplace"].functions.consortium().call(), d.address("Consortium"))
    assert c["Consortium"].functions.isRelayer(d.relayer).call() is True
    signed = ("ConsentManager", "RecordRegistry", "AccessLog", "Workflow", "EmergencyAccess")
    for name in (*signed, "Marketplace"):
        domain = c[name].functions.eip712Domain().call()
        assert domain[1:3] == [f"MedLedger {name}", "1"]
        assert same(domain[4], d.address(name))
    with pytest.raises(DeploymentError, match="Nope"):
        d.address("Nope")


def test_deploy_with_separate_admin(w3: Web3) -> None:
    admin = Account.from_key(ANVIL_KEYS[1]).address
    relayer = Account.from_key(ANVIL_KEYS[3]).address
    d = deploy_all(w3, deployer_key=ANVIL_KEYS[4], relayer=relayer, admin=admin)
    con = w3.eth.contract(address=d.address("Consortium"), abi=_abi("Consortium"))
    assert same(con.functions.admin().call(), admin)
    assert same(d.admin, admin)
    assert con.functions.isRelayer(relayer).call() is True


def test_save_load_round_trip(chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "deployment.json"
    chain.deployment.save(path)
    loaded = Deployment.load(path)
    assert loaded == chain.deployment
    raw = json.loads(path.read_text())
    assert raw["contracts"]["Consortium"] == chain.deployment.address("Consortium")
    assert raw["block_number"] == chain.deployment.block_number
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw.pop("chain_id"), "malformed"),
        (lambda raw: raw["contracts"].pop("Workflow"), "lacks Workflow"),
        (lambda raw: raw.update(relayer="0x1234"), "relayer: not an address"),
        (lambda raw: raw["contracts"].update(AccessLog=42), "AccessLog: not an address"),
        (lambda raw: raw.update(block_number="x"), "malformed"),
    ],
)
def test_load_rejects_malformed_files(chain: Chain, tmp_path: Path, mutate, message: str) -> None:
    raw = chain.deployment.to_json()
    raw["contracts"] = dict(raw["contracts"])
    mutate(raw)
    path = tmp_path / "d.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(DeploymentError, match=message):
        Deployment.load(path)


def test_load_missing_and_unparsable(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="no deployment file"):
        Deployment.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DeploymentError, match="unreadable"):
        Deployment.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(DeploymentError, match="JSON object"):
        Deployment.load(bad)


def test_deploy_all_rejects_bad_input(w3: Web3) -> None:
    relayer = Account.from_key(ANVIL_KEYS[2]).address
    with pytest.raises(DeploymentError, match="invalid deployer key"):
        deploy_all(w3, deployer_key="0x1234", relayer=relayer)
    with pytest.raises(DeploymentError, match="relayer: not an address"):
        deploy_all(w3, deployer_key=ANVIL_KEYS[0], relayer="0xnothex")
    with pytest.raises(DeploymentError, match="admin: not an address"):
        deploy_all(w3, deployer_key=ANVIL_KEYS[0], relayer=relayer, admin="bob")
    assert issubclass(DeploymentError, ChainError)


def test_deploy_all_unreachable_node() -> None:
    w3 = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))
    relayer = Account.from_key(ANVIL_KEYS[2]).address
    with pytest.raises(DeploymentError, match="cannot reach the node"):
        deploy_all(w3, deployer_key=ANVIL_KEYS[0], relayer=relayer)


def _abi(name: str) -> list:
    return contracts.load(name)["abi"]
