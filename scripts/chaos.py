"""Chaos run: sustained shares and reads through two API nodes while their parts are killed.

Each round drives shares (4 KiB, one client per node, reads of what was acknowledged in
between) and, at a random moment, kills one of: an API node (``kill -9``, then restarted as
``medledger serve``), the chain node (anvil with ``--state``, ``kill -9``, restarted from its
state file: the last second is lost), or PostgreSQL's connections (every backend of the
database terminated). After the round, once the healer had time, it checks:

- every share acknowledged to a client is on chain (``RecordRegistered``), in the index
  (``confirmed``) and its blocks are present with the registered digest;
- no on-chain record points at a missing block;
- the indexer has every block (no gap in the indexed block numbers);
- nothing is duplicated (one registration per record id).

    python scripts/chaos.py --rounds 20          # table
    python scripts/chaos.py --rounds 3 --json    # {"rounds", "kills", "acknowledged", "lost", …}
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster_stack import Cluster, cluster_stack

from clients.sdk import MedLedgerClient
from ledger_api.chain.connection import rpc
from ledger_api.chain.contract import event_decoder
from storage.blocks import LocalBlockStore

POLICY = "role:doctor and dept:cardiology"
KINDS = ("api", "chain", "postgres")
HEALING = ("re_registered", "nonce_resyncs", "rewinds", "reopened", "torn_state_files")


class Driver:
    """One client per node sharing in a loop; records what was acknowledged."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.acknowledged: dict[str, str] = {}  # record id → body sha-256 acknowledged
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _loop(self, node: int) -> None:
        client: MedLedgerClient | None = None
        while not self._stop.is_set():
            try:
                if client is None:
                    client = MedLedgerClient(
                        self.cluster.nodes[node].url, account=self.cluster.people["cardiologist"]
                    )
                    client.login()
                info = client.share(
                    os.urandom(4096),
                    patient=self.cluster.patient,
                    policy=POLICY,
                    record_type="Observation",
                )
                with self._lock:
                    self.acknowledged[info.record_id.lower()] = info.body_sha256.lower()
                if random.random() < 0.3:  # a read through the node
                    client.record(info.record_id)
            except Exception:  # a killed part: count it, reconnect, go on
                self.errors += 1
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()
                client = None
                time.sleep(0.3)

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, args=(n,), daemon=True)
            for n in range(len(self.cluster.nodes))
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=200)


def kill_something(cluster: Cluster, kind: str) -> None:
    if kind == "api":
        cluster.restart_node(random.randrange(len(cluster.nodes)))
    elif kind == "chain":
        cluster.restart_chain(kill=True)
    else:
        cluster.terminate_backends()


def healing(cluster: Cluster) -> dict[str, int]:
    """What the nodes did to heal so far (from their logs): records registered again,
    relayer nonce resyncs, index rewinds, torn chain state files replaced."""
    counts = {"re_registered": 0, "nonce_resyncs": 0, "rewinds": 0, "reopened": 0}
    for node in cluster.nodes:
        with contextlib.suppress(OSError):
            for line in node.log.read_text(errors="replace").splitlines():
                if "reconciler: " in line and " registered" in line:
                    match = re.search(r"(\d+) registered", line)
                    counts["re_registered"] += int(match.group(1)) if match else 0
                elif "resyncing" in line:
                    counts["nonce_resyncs"] += 1
                elif "index rewound" in line:
                    counts["rewinds"] += 1
                elif "the chain lost them" in line:
                    counts["reopened"] += 1
    state = cluster.chain.state_file
    counts["torn_state_files"] = int(
        state is not None and state.with_name(state.name + ".torn").exists()
    )
    return counts


def check(cluster: Cluster, acknowledged: dict[str, str], settle: float) -> dict[str, Any]:
    """The round's invariants (waits up to ``settle`` s for the healer)."""
    registry = cluster.deployment.address("RecordRegistry")
    decoder = event_decoder()
    store = LocalBlockStore(cluster.tmp / "data" / "blocks")
    engine = sa.create_engine(cluster.database_url)
    deadline = time.monotonic() + settle
    try:
        while True:
            logs = rpc(
                cluster.w3,
                "eth_getLogs",
                [{"address": registry, "fromBlock": "0x0", "toBlock": "latest"}],
            )
            events: dict[str, Any] = {}
            ids: Counter[str] = Counter()
            for raw in logs:
                event = decoder.decode(raw)
                if event is None or event.name != "RecordRegistered":
                    continue
                rid = "0x" + bytes(event.args["id"]).hex()
                ids[rid] += 1
                events[rid] = event
            with engine.connect() as conn:
                confirmed = {
                    r: sha
                    for r, sha in conn.execute(
                        sa.text(
                            "SELECT record_id, body_sha256 FROM records WHERE state='confirmed'"
                        )
                    ).all()
                }
                numbers = [
                    int(n)
                    for (n,) in conn.execute(
                        sa.text("SELECT number FROM indexed_blocks ORDER BY number")
                    ).all()
                ]
            lost = [r for r in acknowledged if r not in events or r not in confirmed]
            if not lost or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        wrong_digest = [r for r, sha in acknowledged.items() if confirmed.get(r, sha) != sha]
        dangling = 0
        for rid, event in events.items():
            for cid in (event.args["bodyCid"], event.args["headerCid"]):
                if not store.has(cid):
                    dangling += 1
            if rid in acknowledged:
                body = b"".join(store.get(event.args["bodyCid"]))
                if "0x" + hashlib.sha256(body).hexdigest() != acknowledged[rid]:
                    wrong_digest.append(rid)
        gaps = sum(1 for a, b in itertools.pairwise(numbers) if b != a + 1)
        return {
            "lost": len(lost),
            "lost_ids": lost[:5],
            "wrong_digest": len(set(wrong_digest)),
            "dangling": dangling,
            "gaps": gaps,
            "duplicates": sum(1 for n in ids.values() if n > 1),
        }
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--round-seconds", type=float, default=8.0)
    parser.add_argument("--settle", type=float, default=90.0, help="max wait for healing")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng_seed = args.seed if args.seed is not None else int(time.time())
    random.seed(rng_seed)
    rows: list[dict[str, Any]] = []
    totals = Counter()
    with cluster_stack(nodes=2) as cluster:
        patient = MedLedgerClient(cluster.nodes[0].url, account=cluster.people["patient"])
        patient.login()
        patient.grant(grantee=cluster.people["cardiologist"].address)
        patient.close()
        driver = Driver(cluster)
        for number in range(1, args.rounds + 1):
            kind = KINDS[(number - 1) % len(KINDS)] if number <= 3 else random.choice(KINDS)
            driver.start()
            time.sleep(random.uniform(0.3, args.round_seconds))
            kill_something(cluster, kind)
            time.sleep(random.uniform(0.5, 2.0))
            driver.stop()
            result = check(cluster, dict(driver.acknowledged), args.settle)
            totals[kind] += 1
            rows.append(
                {
                    "round": number,
                    "kill": kind,
                    "acknowledged": len(driver.acknowledged),
                    "client_errors": driver.errors,
                    **result,
                    **healing(cluster),
                }
            )
            if not args.json:
                print(json.dumps(rows[-1]), flush=True)
    summary = {
        "rounds": len(rows),
        "kills": sum(totals.values()),
        "kills_api": totals["api"],
        "kills_chain": totals["chain"],
        "kills_postgres": totals["postgres"],
        "acknowledged": rows[-1]["acknowledged"] if rows else 0,
        "lost": rows[-1]["lost"] if rows else 0,
        "wrong_digest": max((r["wrong_digest"] for r in rows), default=0),
        "dangling": max((r["dangling"] for r in rows), default=0),
        "gaps": max((r["gaps"] for r in rows), default=0),
        "duplicates": max((r["duplicates"] for r in rows), default=0),
        "seed": rng_seed,
        **({k: v for k, v in rows[-1].items() if k in HEALING} if rows else {}),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            "| round | kill | acknowledged | lost | wrong digest | dangling | gaps | duplicates "
            "| re-registered | nonce resyncs | rewinds + reopened |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['round']} | {r['kill']} | {r['acknowledged']} | {r['lost']} | "
                f"{r['wrong_digest']} | {r['dangling']} | {r['gaps']} | {r['duplicates']} | "
                f"{r['re_registered']} | {r['nonce_resyncs']} | {r['rewinds'] + r['reopened']} |"
            )
        print(json.dumps(summary))
    bad = summary["lost"] or summary["wrong_digest"] or summary["dangling"] or summary["duplicates"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
