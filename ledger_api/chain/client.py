"""One object for the API: a checked connection, the relayer and the typed contracts.

Built from a deployment file and a JSON-RPC URL; refuses to start when the node runs another
chain or the deployment's code is not there, because every later call would fail confusingly
(or, worse, talk to some other contract at the same address).
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from ledger_api.chain.access_log import AccessLog
from ledger_api.chain.connection import connect, require_code
from ledger_api.chain.consents import ConsentManager
from ledger_api.chain.consortium import Consortium
from ledger_api.chain.deploy import Deployment
from ledger_api.chain.emergency import EmergencyAccess
from ledger_api.chain.marketplace import Marketplace
from ledger_api.chain.records import RecordRegistry
from ledger_api.chain.relayer import Relayer
from ledger_api.chain.workflow import Workflow


@dataclass
class ChainClient:
    w3: Web3
    deployment: Deployment
    relayer: Relayer
    consortium: Consortium
    records: RecordRegistry
    consents: ConsentManager
    access_log: AccessLog
    workflow: Workflow
    emergency: EmergencyAccess
    marketplace: Marketplace

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        deployment: Deployment,
        relayer_key: str | bytes,
        gas_limit: int | None = None,
    ) -> ChainClient:
        w3 = connect(url, expected_chain_id=deployment.chain_id)
        require_code(w3, deployment.addresses())
        return cls.bind(
            w3, deployment=deployment, relayer=Relayer(w3, relayer_key, gas_limit=gas_limit)
        )

    @classmethod
    def bind(cls, w3: Web3, *, deployment: Deployment, relayer: Relayer) -> ChainClient:
        """Wrappers over an existing connection, all sending through ``relayer``."""
        return cls(
            w3=w3,
            deployment=deployment,
            relayer=relayer,
            consortium=Consortium(w3, deployment.address("Consortium"), sender=relayer),
            records=RecordRegistry(w3, deployment.address("RecordRegistry"), sender=relayer),
            consents=ConsentManager(w3, deployment.address("ConsentManager"), sender=relayer),
            access_log=AccessLog(w3, deployment.address("AccessLog"), sender=relayer),
            workflow=Workflow(w3, deployment.address("Workflow"), sender=relayer),
            emergency=EmergencyAccess(w3, deployment.address("EmergencyAccess"), sender=relayer),
            marketplace=Marketplace(w3, deployment.address("Marketplace"), sender=relayer),
        )
