"""Deploy the eight MedLedger contracts and wire them together; save/load where they live.

Order and wiring (each constructor takes what it must trust, as an immutable):

1. ``Consortium(admin = deployer)``;
2. ``RecordRegistry(consortium)``;
3. ``ConsentManager()`` (self-contained: EIP-712 domain bound to its own address and chain);
4. ``AccessLog(consortium)`` (it asks ``Consortium.isRelayer`` like the others, so relayers
   are rotated in one place and a removed relayer stops at once);
5. ``Workflow(consortium, registry)``;
6. ``EmergencyAccess(consortium)`` (break-glass openings and their reviews);
6b. ``EmergencyKeys(consortium, registry, emergency)`` (the DKG board of the consortium
   emergency key, and the log of the decryption shares authorities release);
6c. ``Marketplace(consortium)`` (the app marketplace: vendors, administrator roles, listings,
   installations and ratings; its vendors and administrators are set later by the consortium
   admin);
7. ``Consortium.enrolMember(relayer, 0, Relayer, [])`` so the other contracts'
   ``isRelayer`` checks accept the API's account; then, when a separate consortium ``admin``
   is given, ``transferAdmin(admin)``. More relayers are enrolled (and removed) later by the
   consortium admin with ``enrolMember`` / ``removeMember``; nothing needs redeploying.

The deployment file records ``code_digest``, the SHA-256 of the eight compiled creation codes it
was made from (:func:`code_digest`), so tools can tell a deployment of older contracts (whose
ABI the wrappers no longer speak) from a current one; the dev chain redeploys on a mismatch.

Transactions are signed locally with eth-account and sent raw, as legacy transactions at the
node's gas price (0 on our anvil; works the same on Besu or geth). Each is mined before the
next is sent: deployment is a one-off and clear failures matter more than speed here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_address
from web3 import Web3
from web3.exceptions import Web3Exception

import contracts
from crypto.addresses import to_checksum_address
from ledger_api.chain.errors import DeploymentError

CONTRACT_NAMES = contracts.NAMES
ROLE_RELAYER = 5  # Consortium.Role.Relayer
DEFAULT_RECEIPT_TIMEOUT = 60.0
# receipt polls 10 ms apart (web3 waits 100 ms): an automining dev chain has each receipt at
# once, and every test stack deploys eight contracts one after the other
RECEIPT_POLL = 0.01


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """Where one deployment of the contracts lives, and who set it up.

    ``block_number`` is the block of the first deployment transaction: indexers start there.
    ``code_digest`` is :func:`code_digest` of the artifacts deployed (empty in files written
    before it was recorded).
    """

    chain_id: int
    block_number: int
    deployer: str
    relayer: str
    admin: str
    contracts: dict[str, str] = field(default_factory=dict)
    code_digest: str = ""

    def addresses(self) -> dict[str, str]:
        """``{contract name: checksummed address}`` (a copy)."""
        return dict(self.contracts)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise DeploymentError(f"the deployment has no contract {name!r}") from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        """Write as JSON atomically (temp file + rename), so a crash leaves the old file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    @classmethod
    def from_json(cls, raw: Any) -> Deployment:
        if not isinstance(raw, dict):
            raise DeploymentError("a deployment must be a JSON object")
        try:
            addresses = raw["contracts"]
            deployment = cls(
                chain_id=int(raw["chain_id"]),
                block_number=int(raw["block_number"]),
                deployer=_address(raw["deployer"], "deployer"),
                relayer=_address(raw["relayer"], "relayer"),
                admin=_address(raw["admin"], "admin"),
                contracts={str(k): _address(v, k) for k, v in dict(addresses).items()},
                code_digest=str(raw.get("code_digest", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DeploymentError(f"malformed deployment: {exc!r}") from exc
        missing = [name for name in CONTRACT_NAMES if name not in deployment.contracts]
        if missing:
            raise DeploymentError(f"deployment lacks {', '.join(missing)}")
        return deployment

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise DeploymentError(f"no deployment file at {path}") from None
        except (OSError, ValueError) as exc:
            raise DeploymentError(f"unreadable deployment file {path}: {exc}") from exc
        return cls.from_json(raw)


def code_digest() -> str:
    """SHA-256 (hex) of the creation code of every contract, in deployment order: what a
    deployment made now is made of."""
    digest = hashlib.sha256()
    for name in CONTRACT_NAMES:
        digest.update(name.encode() + b"\x00" + contracts.load(name)["bytecode"].encode() + b"\n")
    return digest.hexdigest()


def deploy_all(
    w3: Web3,
    *,
    deployer_key: str | bytes,
    relayer: str,
    admin: str | None = None,
    timeout: float = DEFAULT_RECEIPT_TIMEOUT,
) -> Deployment:
    """Deploy and wire all eight contracts; see the module docstring for the order.

    ``admin`` (default: the deployer) ends up as consortium admin. Raises
    :class:`DeploymentError` on a bad key or address, or when any transaction fails.
    """
    try:
        account: LocalAccount = Account.from_key(deployer_key)
    except (ValueError, TypeError) as exc:
        raise DeploymentError(f"invalid deployer key: {exc}") from None
    relayer = _address(relayer, "relayer")
    admin = _address(admin, "admin") if admin is not None else account.address
    sender = _Sender(w3, account, timeout)

    consortium, first_block = sender.deploy("Consortium", account.address)
    registry, _ = sender.deploy("RecordRegistry", consortium)
    consent, _ = sender.deploy("ConsentManager")
    access_log, _ = sender.deploy("AccessLog", consortium)
    workflow, _ = sender.deploy("Workflow", consortium, registry)
    emergency, _ = sender.deploy("EmergencyAccess", consortium)
    emergency_keys, _ = sender.deploy("EmergencyKeys", consortium, registry, emergency)
    marketplace, _ = sender.deploy("Marketplace", consortium)
    sender.call("Consortium", consortium, "enrolMember", relayer, 0, ROLE_RELAYER, [])
    if admin != account.address:
        sender.call("Consortium", consortium, "transferAdmin", admin)
    return Deployment(
        chain_id=sender.chain_id,
        block_number=first_block,
        deployer=account.address,
        relayer=relayer,
        admin=admin,
        contracts={
            "Consortium": consortium,
            "RecordRegistry": registry,
            "ConsentManager": consent,
            "AccessLog": access_log,
            "Workflow": workflow,
            "EmergencyAccess": emergency,
            "EmergencyKeys": emergency_keys,
            "Marketplace": marketplace,
        },
        code_digest=code_digest(),
    )


class _Sender:
    """Signs, sends and awaits the deployer's transactions, tracking its nonce locally."""

    def __init__(self, w3: Web3, account: LocalAccount, timeout: float) -> None:
        self.w3 = w3
        self.account = account
        self.timeout = timeout
        try:
            self.chain_id = int(w3.eth.chain_id)
            self.gas_price = int(w3.eth.gas_price)
            self.nonce = int(w3.eth.get_transaction_count(account.address, "pending"))
        except (Web3Exception, OSError, ValueError) as exc:
            raise DeploymentError(f"cannot reach the node to deploy: {exc}") from exc

    def deploy(self, name: str, *args: Any) -> tuple[str, int]:
        artifact = contracts.load(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        constructor = factory.constructor(*args)
        receipt = self._send(name, constructor.build_transaction)
        address = receipt["contractAddress"]
        if not address:
            raise DeploymentError(f"{name}: receipt has no contract address")
        return to_checksum_address(address), int(receipt["blockNumber"])

    def call(self, name: str, address: str, function: str, *args: Any) -> None:
        contract = self.w3.eth.contract(address=address, abi=contracts.load(name)["abi"])
        self._send(f"{name}.{function}", contract.functions[function](*args).build_transaction)

    def _send(self, what: str, build: Any) -> Any:
        params = {
            "from": self.account.address,
            "nonce": self.nonce,
            "chainId": self.chain_id,
            "gasPrice": self.gas_price,
        }
        try:
            tx = build(params)  # estimates gas: a revert surfaces here, before sending
            signed = self.account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.timeout, poll_latency=RECEIPT_POLL
            )
        except (Web3Exception, OSError, ValueError) as exc:
            raise DeploymentError(f"{what} failed: {exc}") from exc
        self.nonce += 1
        if receipt["status"] != 1:
            raise DeploymentError(f"{what} reverted in transaction {tx_hash.hex()}")
        return receipt


def _address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise DeploymentError(f"{what}: not an address: {value!r}")
    return to_checksum_address(value)
