"""``AccessLogged`` events read straight from a chain node (``patient access --from-chain``).

Kept apart from the access view because it is the one patient command that talks to the chain
itself (web3 through :mod:`ledger_api.chain`): the others only load the SDK.
"""

from __future__ import annotations

from typing import Any

from crypto.signing import Purpose
from ledger_api.chain.access_log import AccessLog
from ledger_api.chain.connection import connect


def access_events(rpc: str, access_log: str, record_ids: list[str]) -> list[dict[str, Any]]:
    """``AccessLogged`` events of these records (topic filter on the indexed record id)."""
    if not record_ids:
        return []
    w3 = connect(rpc)
    event = AccessLog(w3, access_log).contract.events.AccessLogged
    events: list[dict[str, Any]] = []
    times: dict[int, int] = {}
    for start in range(0, len(record_ids), 100):  # keep each topic list short
        chunk = [bytes.fromhex(r[2:]) for r in record_ids[start : start + 100]]
        logs = event.get_logs(from_block=0, argument_filters={"recordId": chunk})
        for log in logs:
            number = int(log["blockNumber"])
            if number not in times:
                times[number] = int(w3.eth.get_block(number)["timestamp"])
            args = log["args"]
            events.append(
                {
                    "record_id": "0x" + bytes(args["recordId"]).hex(),
                    "accessor": args["accessor"],
                    "purpose": _purpose(int(args["purpose"])),
                    "granted": bool(args["granted"]),
                    "reason_code": int(args["reasonCode"]),
                    "block_number": number,
                    "log_index": int(log["logIndex"]),
                    "time": times[number],
                    "tx_hash": "0x" + bytes(log["transactionHash"]).hex().removeprefix("0x"),
                }
            )
    events.sort(key=lambda e: (e["block_number"], e["log_index"]), reverse=True)
    return events


def _purpose(code: int) -> str:
    try:
        return Purpose(code).name.lower()
    except ValueError:
        return str(code)
