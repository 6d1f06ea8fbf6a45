"""What the chain says a record is: read from a JSON-RPC node of the client's choosing.

Why the SDK reads the chain itself: the API stores and serves the blocks, so a compromised API
(or block store, or a proxy) could serve record Y's consistent header and body as record X, or
a body whose digest it reports itself. The client therefore takes the record's registration —
patient, original author, current header CID, body CID and body digest — from
``RecordRegistered``, ``RecordRekeyed`` and ``RecordBodyRekeyed`` logs fetched from a chain
node (by default the one ``GET /chain`` names; a deployment points clients at a node the API
does not control with the client's ``chain_rpc_url`` and ``registry_address``), and refuses a
header whose CID or a body whose SHA-256 differs, and an envelope v2 bound to another record,
patient or author.

Only ``eth_getLogs`` and ``eth_blockNumber`` are used (any EVM chain: anvil, Besu, geth); the
event layouts come from the compiled ABI in :mod:`contracts`, decoded with ``eth_abi``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import httpx
from eth_abi import decode
from eth_utils import keccak, to_checksum_address

import contracts
from clients.sdk.errors import ChainReadError, IntegrityError

__all__ = ["ChainRecords", "Registration"]

_EVENTS = ("RecordRegistered", "RecordRekeyed", "RecordBodyRekeyed")


@dataclass(frozen=True)
class Registration:
    """A record as the chain has it now: the registration with every later re-key applied."""

    record_id: str
    patient: str
    author: str  # who signed the registration: the seal inside the envelope must match it
    author_institution: int
    header_cid: str
    body_cid: str
    body_sha256: str  # 0x + 64 hex
    policy_hash: str
    version: int
    block_number: int  # of the registration


class _Layout:
    """One event's topic and how to decode its data part."""

    def __init__(self, entry: dict[str, Any]) -> None:
        inputs = entry["inputs"]
        self.name: str = entry["name"]
        signature = f"{self.name}({','.join(i['type'] for i in inputs)})"
        self.topic = "0x" + keccak(text=signature).hex()
        self.indexed = [i["name"] for i in inputs if i["indexed"]]
        self.data_names = [i["name"] for i in inputs if not i["indexed"]]
        self.data_types = [i["type"] for i in inputs if not i["indexed"]]

    def decode(self, log: dict[str, Any]) -> dict[str, Any]:
        values = decode(self.data_types, bytes.fromhex(log["data"][2:]))
        fields = dict(zip(self.data_names, values, strict=True))
        for name, topic in zip(self.indexed, log["topics"][1:], strict=False):
            fields[name] = topic
        return fields


def _layouts() -> dict[str, _Layout]:
    abi = contracts.load("RecordRegistry")["abi"]
    found = {e["name"]: _Layout(e) for e in abi if e["type"] == "event" and e["name"] in _EVENTS}
    return {layout.topic: layout for layout in found.values()}


class ChainRecords:
    """Reads records' registrations from ``RecordRegistry`` at ``registry`` through ``rpc_url``."""

    def __init__(
        self,
        rpc_url: str,
        registry: str,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self.registry = to_checksum_address(registry)
        self._http = http or httpx.Client(timeout=timeout)
        self._own_http = http is None
        self._layouts = _layouts()
        self._ids = itertools.count(1)

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def registration(self, record_id: str, *, from_block: int = 0) -> Registration:
        """The record's current registration; :class:`IntegrityError` if the chain has none.

        ``from_block`` is a hint (the API reports the registration block): a wrong hint can
        only make the record not found, never make another record's data pass as this one's.
        """
        logs = self._rpc(
            "eth_getLogs",
            {
                "address": self.registry,
                "fromBlock": hex(max(0, from_block)),
                "toBlock": "latest",
                "topics": [list(self._layouts), "0x" + bytes.fromhex(record_id[2:]).hex()],
            },
        )
        current: Registration | None = None
        for log in sorted(logs, key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16))):
            if log.get("removed"):
                continue
            layout = self._layouts.get(log["topics"][0])
            if layout is None:
                continue
            fields = layout.decode(log)
            current = _apply(current, layout.name, fields, record_id, int(log["blockNumber"], 16))
        if current is None:
            raise IntegrityError(
                f"record {record_id} is not registered on chain (at {self.rpc_url}, registry "
                f"{self.registry}): refusing what the API served for it"
            )
        return current

    def _rpc(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            response = self._http.post(self.rpc_url, json=body)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainReadError(f"cannot read the chain at {self.rpc_url}: {exc}") from None
        if "error" in answer:
            raise ChainReadError(f"the chain node refused {method}: {answer['error']}")
        return answer["result"]


def _apply(
    current: Registration | None, name: str, f: dict[str, Any], record_id: str, block: int
) -> Registration | None:
    if name == "RecordRegistered":
        if current is not None:  # a second registration of one id cannot happen on chain
            raise IntegrityError(f"record {record_id} is registered twice on chain")
        return Registration(
            record_id=record_id,
            patient=_address(f["patient"]),
            author=to_checksum_address(f["author"]),
            author_institution=int(f["authorInstitution"], 16),
            header_cid=f["headerCid"],
            body_cid=f["bodyCid"],
            body_sha256="0x" + f["bodyHash"].hex(),
            policy_hash="0x" + f["policyHash"].hex(),
            version=1,
            block_number=block,
        )
    if current is None:  # a re-key before the registration in the range searched
        return None
    if name == "RecordRekeyed":
        return replace(
            current,
            header_cid=f["headerCid"],
            policy_hash="0x" + f["policyHash"].hex(),
            version=int(f["version"]),
        )
    return replace(
        current,
        header_cid=f["headerCid"],
        body_cid=f["bodyCid"],
        body_sha256="0x" + f["bodyHash"].hex(),
        policy_hash="0x" + f["policyHash"].hex(),
        version=int(f["version"]),
    )


def _address(topic: str) -> str:
    return to_checksum_address("0x" + topic[-40:])
