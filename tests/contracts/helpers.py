"""Test helpers for the contract tests: send locally signed transactions, decode custom errors.

Reverts are checked twice: ``eth_call`` must return the expected custom error (selector and
arguments decoded from the ABI), and the same transaction, sent with a fixed gas limit so that
nothing is estimated away, must be mined with status 0. Events are decoded from receipts with
the contracts' ABIs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

import contracts
from crypto.signing import Domain, RecordRegistration, TypedMessage, sign
from ledger_api.chain.deploy import Deployment, deploy_all

FIXED_GAS = 3_000_000

(
    ROLE_NONE,
    ROLE_DOCTOR,
    ROLE_NURSE,
    ROLE_AUDITOR,
    ROLE_KEY_AUTHORITY,
    ROLE_RELAYER,
    ROLE_GATEWAY,
) = range(7)


def b32(text: str) -> bytes:
    """A short string packed into ``bytes32`` (right-padded), as attributes and codes are."""
    raw = text.encode()
    assert len(raw) <= 32
    return raw.ljust(32, b"\x00")


def _error_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for name in contracts.NAMES:
        for item in contracts.load(name)["abi"]:
            if item["type"] != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            table[selector] = (item["name"], [i["name"] for i in item["inputs"]], types)
    return table


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


ERRORS = _error_table()


class RevertDecodeError(AssertionError):
    pass


@dataclass
class Revert:
    name: str
    args: dict[str, Any]


def decode_revert(data: bytes) -> Revert:
    selector, body = data[:4], data[4:]
    if selector not in ERRORS:
        raise RevertDecodeError(f"unknown revert data 0x{data.hex()}")
    name, names, types = ERRORS[selector]
    values = abi_decode(types, body)
    return Revert(name, dict(zip(names, values, strict=True)))


@dataclass
class Chain:
    """One anvil + one deployment of the five contracts, and the accounts of a small world."""

    w3: Web3
    deployment: Deployment
    accounts: dict[str, LocalAccount]
    c: dict[str, Contract] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, address in self.deployment.addresses().items():
            self.c[name] = self.w3.eth.contract(address=address, abi=contracts.load(name)["abi"])

    # -- accounts and signatures -------------------------------------------------------
    def addr(self, who: str) -> str:
        return self.accounts[who].address

    def domain(self, contract: str) -> Domain:
        """The EIP-712 domain of one deployed contract ("MedLedger <contract>")."""
        return Domain.of(
            contract, chain_id=self.w3.eth.chain_id, verifying_contract=self.c[contract].address
        )

    def sig(self, who: str | LocalAccount, message: TypedMessage) -> bytes:
        """``who``'s signature of ``message`` under its contract's domain."""
        account = self.accounts[who] if isinstance(who, str) else who
        return sign(self.domain(message.CONTRACT), message, account.key)

    # -- transactions ---------------------------------------------------------------
    def _tx(self, sender: LocalAccount, call: Any, gas: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "from": sender.address,
            "nonce": self.w3.eth.get_transaction_count(sender.address),
            "gasPrice": 0,
            "chainId": self.w3.eth.chain_id,
        }
        if gas is not None:
            params["gas"] = gas
        return call.build_transaction(params)

    def send_raw(self, who: str | LocalAccount, call: Any) -> Any:
        """Send ``call`` signed by ``who`` with a fixed gas limit; return the receipt as mined."""
        sender = self.accounts[who] if isinstance(who, str) else who
        tx = self._tx(sender, call, FIXED_GAS)
        tx_hash = self.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)

    def send(self, who: str | LocalAccount, call: Any) -> Any:
        """Send ``call`` signed by ``who``; assert it succeeded; return the receipt."""
        sender = self.accounts[who] if isinstance(who, str) else who
        receipt = self.send_raw(sender, call)
        if receipt["status"] != 1:
            revert = self.call_revert(sender, call)
            raise AssertionError(f"transaction reverted: {revert}")
        return receipt

    def call_revert(self, sender: LocalAccount, call: Any) -> Revert | None:
        tx = {
            "from": sender.address,
            "to": call.address,
            "data": call._encode_transaction_data(),
        }
        response = self.w3.provider.make_request("eth_call", [tx, "latest"])
        if "error" not in response:
            return None
        data = response["error"].get("data")
        if isinstance(data, dict):
            data = data.get("data")
        if not data:
            raise RevertDecodeError(f"revert without data: {response['error']}")
        return decode_revert(bytes.fromhex(data.removeprefix("0x")))

    def reverts(
        self, who: str | LocalAccount, call: Any, error: str, **expected_args: Any
    ) -> Revert:
        """Assert ``call`` by ``who`` reverts with custom ``error`` (and these arguments) both
        in ``eth_call`` and when mined; return the decoded error."""
        sender = self.accounts[who] if isinstance(who, str) else who
        revert = self.call_revert(sender, call)
        assert revert is not None, f"expected {error}, but the call succeeded"
        assert revert.name == error, f"expected {error}, got {revert.name}{revert.args}"
        for key, value in expected_args.items():
            got = revert.args[key]
            if isinstance(value, str) and isinstance(got, str):
                assert got.lower() == value.lower(), f"{error}.{key}: {got} != {value}"
            else:
                assert got == value, f"{error}.{key}: {got!r} != {value!r}"
        receipt = self.send_raw(sender, call)
        assert receipt["status"] == 0, "eth_call reverted but the mined transaction succeeded"
        return revert

    def raw_call(self, call: Any) -> bytes:
        """``eth_call`` without web3's per-call middleware (several times faster in loops)."""
        tx = {"to": call.address, "data": call._encode_transaction_data()}
        response = self.w3.provider.make_request("eth_call", [tx, "latest"])
        return bytes.fromhex(response["result"].removeprefix("0x"))

    def constructor_revert(self, name: str, *args: Any) -> Revert:
        """Deploying ``name`` with ``args`` must revert; the decoded custom error."""
        artifact = contracts.load(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx = {"from": self.addr("admin"), "data": factory.constructor(*args).data_in_transaction}
        response = self.w3.provider.make_request("eth_call", [tx, "latest"])
        assert "error" in response, f"deploying {name}{args} succeeded"
        data = response["error"]["data"]
        data = data["data"] if isinstance(data, dict) else data
        return decode_revert(bytes.fromhex(data.removeprefix("0x")))

    # -- events ---------------------------------------------------------------------
    def events(self, contract: str, event: str, receipt: Any) -> list[dict[str, Any]]:
        ev = getattr(self.c[contract].events, event)()
        return [dict(e["args"]) for e in ev.process_receipt(receipt)]

    def one_event(self, contract: str, event: str, receipt: Any) -> dict[str, Any]:
        found = self.events(contract, event, receipt)
        assert len(found) == 1, f"expected one {event}, got {len(found)}"
        others = [log for log in receipt["logs"] if log["address"] != self.c[contract].address]
        assert not others, "unexpected logs from other contracts"
        return found[0]

    # -- time and snapshots ------------------------------------------------------------
    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def set_next_timestamp(self, ts: int) -> None:
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [ts])

    def mine(self, ts: int | None = None) -> None:
        if ts is not None:
            self.set_next_timestamp(ts)
        self.w3.provider.make_request("evm_mine", [])

    def snapshot(self) -> str:
        return self.w3.provider.make_request("evm_snapshot", [])["result"]

    def revert_to(self, snap: str) -> None:
        assert self.w3.provider.make_request("evm_revert", [snap])["result"] is True


def same(a: str, b: str) -> bool:
    return to_checksum_address(a) == to_checksum_address(b)


# The named accounts of the test world, by index into ANVIL_KEYS (gas price is 0: unfunded
# accounts can send too).
WORLD_ROLES = (
    "admin",  # consortium admin and deployer
    "inst_a_admin",
    "relayer",
    "doctor_a",
    "nurse_a",
    "auditor_a",
    "doctor_b",
    "inst_b_admin",
    "key_authority",
    "patient",
)


def build_world(w3: Web3, keys: Iterable[str]) -> Chain:
    """Deploy fresh contracts and enrol two institutions with their staff."""
    accounts = {role: Account.from_key(k) for role, k in zip(WORLD_ROLES, keys, strict=True)}
    accounts["outsider"] = Account.from_key(keccak(text="medledger test outsider"))
    accounts["patient2"] = Account.from_key(keccak(text="medledger test patient 2"))
    accounts["doctor_a2"] = Account.from_key(keccak(text="medledger test doctor a2"))
    deployment = deploy_all(
        w3, deployer_key=accounts["admin"].key, relayer=accounts["relayer"].address
    )
    chain = Chain(w3=w3, deployment=deployment, accounts=accounts)
    con = chain.c["Consortium"].functions
    for name, code, admin in (
        ("成都市第三人民医院", "cd3h", "inst_a_admin"),
        ("蒲江县人民医院", "pujiang", "inst_b_admin"),
    ):
        chain.send("admin", con.addInstitution(name, b32(code), chain.addr(admin)))
    enrol = [
        ("inst_a_admin", "doctor_a", 1, ROLE_DOCTOR, ["dept:cardio", "title:attending"]),
        ("inst_a_admin", "doctor_a2", 1, ROLE_DOCTOR, ["dept:cardio"]),
        ("inst_a_admin", "nurse_a", 1, ROLE_NURSE, ["dept:cardio"]),
        ("inst_a_admin", "auditor_a", 1, ROLE_AUDITOR, []),
        ("inst_b_admin", "doctor_b", 2, ROLE_DOCTOR, ["dept:general_practice"]),
        ("admin", "key_authority", 0, ROLE_KEY_AUTHORITY, []),
    ]
    for by, who, inst, role, attrs in enrol:
        chain.send(by, con.enrolMember(chain.addr(who), inst, role, [b32(a) for a in attrs]))
    return chain


def cid_for(seed: str) -> str:
    """A realistic CIDv1 (base32, raw leaves, sha2-256): 59 characters like ``bafkrei...``."""
    import base64

    digest = __import__("hashlib").sha256(seed.encode()).digest()
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + digest
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


FAR = 2**40
"""A deadline no test's clock reaches (tests that test deadlines set their own)."""


def args(message: TypedMessage) -> tuple[Any, ...]:
    """The ABI tuple of a signed message (its EIP-712 members, in the struct's order)."""
    return tuple(message.message().values())


def registration(
    record_id: bytes,
    patient: str,
    *,
    seed: str = "",
    record_type: str = "Observation",
    deadline: int = FAR,
) -> RecordRegistration:
    """A ``RecordRegistration`` with realistic CIDs and digests."""
    seed = seed or record_id.hex()
    return RecordRegistration(
        id=record_id,
        patient=patient,
        body_cid=cid_for("body" + seed),
        header_cid=cid_for("header" + seed),
        body_hash=keccak(text="body-sha256" + seed),
        policy_hash=keccak(text="policy" + seed),
        record_type=b32(record_type),
        deadline=deadline,
    )


def register(
    chain: Chain,
    label: str,
    *,
    by: str = "doctor_a",
    patient: str = "patient",
    via: str = "relayer",
) -> bytes:
    """Register record ``rid(label)`` of ``patient`` authored (signed) by ``by``, sent by
    ``via``; returns its id."""
    message = registration(rid(label), chain.addr(patient))
    call = chain.c["RecordRegistry"].functions.register(args(message), chain.sig(by, message))
    chain.send(via, call)
    return message.id


def rid(label: str) -> bytes:
    return keccak(text="record:" + label)
