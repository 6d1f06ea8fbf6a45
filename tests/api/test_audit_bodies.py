"""The store half of ``/audit/verify`` on a real LocalBlockStore, one failure kind at a time."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ledger_api.indexer.decode import ChainEvent
from ledger_api.services.audit.bodies import check_bodies
from storage.blocks import LocalBlockStore


def registered(record_id: str, body_cid: str, header_cid: str, body_hash: str) -> ChainEvent:
    args = {"id": record_id, "bodyCid": body_cid, "headerCid": header_cid, "bodyHash": body_hash}
    return ChainEvent(
        contract="RecordRegistry",
        name="RecordRegistered",
        args=args,
        block_number=1,
        log_index=0,
        tx_hash="0x" + "00" * 32,
    )


def test_each_kind_of_store_failure_is_named(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path / "blocks", fsync=False)
    body = os.urandom(600_000)  # three chunks and a root: a real DAG
    header = os.urandom(300)
    body_cid, header_cid = str(store.put(iter([body]))), str(store.put(iter([header])))
    digest = "0x" + hashlib.sha256(body).hexdigest()
    good = registered("0x" + "01" * 32, body_cid, header_cid, digest)
    assert check_bodies(store, [good]) == []

    lying = registered("0x" + "02" * 32, body_cid, header_cid, "0x" + "ee" * 32)
    (problem,) = check_bodies(store, [lying])
    assert problem["problem"] == "body_hash_mismatch"
    assert (problem["expected"], problem["actual"]) == ("0x" + "ee" * 32, digest)

    absent = str(LocalBlockStore(tmp_path / "elsewhere", fsync=False).put(iter([b"gone"])))
    missing = registered("0x" + "03" * 32, absent, absent, digest)
    kinds = {p["problem"] for p in check_bodies(store, [missing])}
    assert kinds == {"body_missing", "header_missing"}

    (header_file,) = [p for p in (tmp_path / "blocks").rglob("*.data") if p.read_bytes() == header]
    header_file.write_bytes(b"x" + header[1:])
    (problem,) = check_bodies(store, [good])
    assert (problem["problem"], problem["cid"]) == ("header_corrupt", header_cid)
