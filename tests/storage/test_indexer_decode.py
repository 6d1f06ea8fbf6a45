"""The fast event decoder agrees with web3's own ``process_log`` on every event kind.

web3 is the oracle: for random argument values, a log is built the way the EVM emits it
(indexed values in topics, the rest ABI-encoded in data), then decoded both ways.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

import contracts
from ledger_api.indexer import EventDecodeError, EventDecoder
from ledger_api.indexer.decode import EventSpec

ADDRESS = "0x" + "5f" * 20


def _abi_type(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + kind[5:]
    return kind


def _strategy(kind: str) -> st.SearchStrategy[Any]:
    if kind.endswith("[]"):
        return st.lists(_strategy(kind[:-2]), max_size=4)
    if kind == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: Web3.to_checksum_address(b))
    if kind == "bool":
        return st.booleans()
    if kind == "string":
        return st.text(max_size=60)
    if kind == "bytes32":
        return st.binary(min_size=32, max_size=32)
    if kind == "bytes":  # dynamic (the DKG board's messages)
        return st.binary(max_size=200)
    if kind.startswith("uint"):
        return st.integers(0, 2 ** int(kind[4:] or 256) - 1)
    if kind.startswith("int"):
        bits = int(kind[3:] or 256)
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    raise AssertionError(f"no strategy for {kind}")


def _events() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in contracts.NAMES:
        for item in contracts.load(name)["abi"]:
            if item["type"] == "event":
                found.append((name, item))
    return found


EVENTS = _events()


def _topic(kind: str, value: Any) -> bytes:
    if kind in ("string", "bytes") or kind.endswith("]"):
        raise AssertionError("dynamic indexed values are not used by MedLedger events")
    return encode([kind], [value])


def _expected(kind: str, value: Any) -> Any:
    if kind == "address":
        return value.lower()
    if kind in ("bytes32", "bytes"):
        return "0x" + bytes(value).hex()
    if kind.endswith("[]"):
        return [_expected(kind[:-2], v) for v in value]
    return value


@pytest.mark.parametrize(("contract", "abi"), EVENTS, ids=[f"{c}.{a['name']}" for c, a in EVENTS])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_decoder_matches_web3(contract: str, abi: dict[str, Any], data: st.DataObject) -> None:
    values = {i["name"]: data.draw(_strategy(_abi_type(i)), label=i["name"]) for i in abi["inputs"]}
    signature = f"{abi['name']}({','.join(_abi_type(i) for i in abi['inputs'])})"
    topics = [keccak(text=signature)] + [
        _topic(_abi_type(i), values[i["name"]]) for i in abi["inputs"] if i["indexed"]
    ]
    unindexed = [i for i in abi["inputs"] if not i["indexed"]]
    payload = encode([_abi_type(i) for i in unindexed], [values[i["name"]] for i in unindexed])
    raw = {
        "address": ADDRESS,
        "topics": ["0x" + t.hex() for t in topics],
        "data": "0x" + payload.hex(),
        "blockNumber": "0x10",
        "logIndex": "0x2",
        "transactionHash": "0x" + "ab" * 32,
    }
    decoded = EventDecoder({ADDRESS: (contract, contracts.load(contract)["abi"])}).decode(raw, 99)
    assert decoded is not None
    assert (decoded.contract, decoded.name, decoded.position) == (contract, abi["name"], (16, 2))
    assert decoded.block_time == 99

    oracle_contract = Web3().eth.contract(abi=[abi])
    oracle = getattr(oracle_contract.events, abi["name"])().process_log(
        {
            "address": Web3.to_checksum_address(ADDRESS),
            "topics": [HexBytes(t) for t in topics],
            "data": HexBytes(payload),
            "blockNumber": 16,
            "logIndex": 2,
            "transactionIndex": 0,
            "transactionHash": HexBytes(b"\xab" * 32),
            "blockHash": HexBytes(b"\x00" * 32),
        }
    )
    for item in abi["inputs"]:
        kind = _abi_type(item)
        assert decoded.args[item["name"]] == _expected(kind, oracle["args"][item["name"]])


def test_unknown_logs_are_ignored() -> None:
    decoder = EventDecoder({ADDRESS: ("AccessLog", contracts.load("AccessLog")["abi"])})
    log = {"address": "0x" + "00" * 20, "topics": ["0x" + "11" * 32], "data": "0x"}
    assert decoder.decode(log) is None
    assert decoder.decode({"address": ADDRESS, "topics": [], "data": "0x"}) is None


def test_truncated_data_is_a_decode_error() -> None:
    abi = next(a for c, a in EVENTS if a["name"] == "AccessLogged")
    spec = EventSpec.from_abi("AccessLog", abi)
    log = {
        "address": ADDRESS,
        "topics": [spec.topic0, "0x" + "01" * 32, "0x" + "00" * 12 + "02" * 20],
        "data": "0x" + "00" * 64,  # three words expected
        "blockNumber": "0x1",
        "logIndex": "0x0",
    }
    with pytest.raises(EventDecodeError, match="AccessLogged"):
        spec.decode(log)


def test_wrong_topic_count_is_a_decode_error() -> None:
    abi = next(a for c, a in EVENTS if a["name"] == "RecordRegistered")
    spec = EventSpec.from_abi("RecordRegistry", abi)
    with pytest.raises(EventDecodeError, match="indexed topics"):
        spec.decode({"topics": [spec.topic0], "data": "0x", "blockNumber": "0x1"})
