"""Fixtures of the chain-layer tests: a module-wide anvil of our own and a relayer on it.

The chain tests get their own node rather than the session one, so that their hundreds of
transactions from the relayer key never race another package's tests for a nonce.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.client import ChainClient
from ledger_api.chain.connection import connect
from ledger_api.chain.consortium import Consortium, Role
from ledger_api.chain.deploy import deploy_all
from ledger_api.chain.relayer import Relayer
from tests.conftest import ANVIL_KEYS

RELAYER_KEY = ANVIL_KEYS[2]


@pytest.fixture(scope="module")
def chain_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    log_dir: Path = tmp_path_factory.mktemp("chain-node")
    node = AnvilProcess(port=free_port(), log_file=log_dir / "anvil.log")
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def w3(chain_node: AnvilProcess) -> Web3:
    return connect(chain_node.url, expected_chain_id=chain_node.chain_id)


@pytest.fixture
def relayer(w3: Web3) -> Relayer:
    return Relayer(w3, RELAYER_KEY)


@dataclass
class Consortium2:
    """A deployed MedLedger with two hospitals and one doctor each, on the module's anvil."""

    client: ChainClient
    admin: Consortium  # the same contract, sending as the consortium admin
    hospital: int
    county: int
    doctor_account: LocalAccount
    county_doctor_account: LocalAccount

    @property
    def doctor(self) -> str:
        return self.doctor_account.address

    @property
    def county_doctor(self) -> str:
        return self.county_doctor_account.address


@pytest.fixture(scope="module")
def medledger(w3: Web3) -> Consortium2:
    admin_key = ANVIL_KEYS[0]
    deployment = deploy_all(
        w3, deployer_key=admin_key, relayer=Account.from_key(RELAYER_KEY).address
    )
    client = ChainClient.bind(w3, deployment=deployment, relayer=Relayer(w3, RELAYER_KEY))
    admin = Consortium(w3, deployment.address("Consortium"), sender=Relayer(w3, admin_key))
    admin_address = Account.from_key(admin_key).address
    hospital = admin.add_institution(name="成都市第三人民医院", code="cd3h", admin=admin_address)
    county = admin.add_institution(name="蒲江县人民医院", code="pujiang", admin=admin_address)
    hospital_id = hospital.wait().event("InstitutionAdded").args["institutionId"]
    county_id = county.wait().event("InstitutionAdded").args["institutionId"]
    doctor = Account.from_key(ANVIL_KEYS[3])
    county_doctor = Account.from_key(ANVIL_KEYS[4])
    admin.enrol_member(
        account=doctor.address,
        institution_id=hospital_id,
        role=Role.DOCTOR,
        attributes=["dept:cardiology", "title:attending"],
    ).wait()
    admin.enrol_member(
        account=county_doctor.address, institution_id=county_id, role=Role.DOCTOR, attributes=[]
    ).wait()
    return Consortium2(client, admin, hospital_id, county_id, doctor, county_doctor)
