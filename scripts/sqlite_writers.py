"""SQLite under write contention: N concurrent writers plus the real indexer, zero refusals.

Why: SQLite can refuse a write with ``database is locked`` when a transaction that began by
reading tries to write after another connection (the indexer) committed in between. The
engine's transaction discipline (:func:`storage.db._configure_sqlite`) prevents that; this
script is the proof under load (issue 17: 16 writers plus the indexer for 30 s, zero
"database is locked"). ``tests/storage/test_sqlite_writers.py`` runs it for a shorter time.

What runs, all real: an anvil node (a fresh one unless ``--rpc-url`` names one) with the
contracts deployed; the :class:`~ledger_api.indexer.runner.Indexer` following it with one
block per range (one commit per block) while a miner thread makes a block every 20 ms; and
``--writers`` threads, each looping over one session transaction that *reads first and then
writes* (the pattern that used to fail): it reads the indexer's cursor and its own counter,
then upserts the counter (a ``rate_limit_hits`` row), and commits.

Prints a table, or with ``--json`` one object: ``writers``, ``seconds``, ``writes``,
``indexer_commits``, ``locked`` (errors naming "database is locked"), ``errors`` (others).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from eth_account import Account

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.connection import connect
from ledger_api.chain.deploy import deploy_all
from ledger_api.indexer.runner import Indexer, RangeResult
from storage.db import create_engine, migrate, session_factory
from storage.models import IndexerCursor, RateLimitHit

DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil #0
RELAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil #1


@dataclass
class Outcome:
    """What one run saw."""

    writers: int
    seconds: float
    writes: int = 0
    indexer_commits: int = 0
    locked: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "writers": self.writers,
            "seconds": round(self.seconds, 1),
            "writes": self.writes,
            "indexer_commits": self.indexer_commits,
            "locked": self.locked,
            "errors": self.errors,
        }


def run(
    *,
    rpc_url: str,
    database: Path,
    writers: int = 16,
    seconds: float = 30.0,
    pause: float = 0.002,
) -> Outcome:
    """Drive ``writers`` read-then-write threads and the indexer for ``seconds``.

    Each writer waits ``pause`` seconds between transactions, as a request thread waits on
    its client; with none, 16 threads spinning on the GIL starve the indexer's RPC calls
    (a Python scheduling effect, not a database one)."""
    w3 = connect(rpc_url)
    relayer = Account.from_key(RELAYER_KEY)
    deployment = deploy_all(w3, deployer_key=DEPLOYER_KEY, relayer=relayer.address)
    url = f"sqlite:///{database}"
    migrate(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    outcome = Outcome(writers=writers, seconds=seconds)
    lock = threading.Lock()
    stop = threading.Event()

    def record_error(exc: BaseException) -> None:
        text = str(exc)
        with lock:
            if "database is locked" in text or "database is busy" in text:
                outcome.locked += 1
            else:
                outcome.errors += 1
            if len(outcome.samples) < 5:
                outcome.samples.append(text[:300])

    def committed(_result: RangeResult) -> None:
        with lock:
            outcome.indexer_commits += 1

    indexer = Indexer(w3, deployment, sessions, batch_blocks=1, on_range_committed=committed)

    def index_loop() -> None:
        while not stop.is_set():
            try:
                indexer.run_once()
            except Exception as exc:
                record_error(exc)
            stop.wait(0.005)

    def mine_loop() -> None:
        while not stop.is_set():
            w3.provider.make_request("evm_mine", [])  # dev tooling: empty blocks to index
            stop.wait(0.02)

    def write_loop(number: int) -> None:
        bucket = f"sqlite-writers:{number}"
        while not stop.is_set():
            try:
                with sessions() as db:
                    db.scalar(sa.select(sa.func.max(IndexerCursor.last_block)))
                    row = db.get(RateLimitHit, (bucket, 0))
                    if row is None:
                        db.add(RateLimitHit(bucket=bucket, window_start=0, hits=1))
                    else:
                        row.hits += 1
                    db.commit()
                with lock:
                    outcome.writes += 1
            except Exception as exc:
                record_error(exc)
            stop.wait(pause)

    threads = [threading.Thread(target=index_loop), threading.Thread(target=mine_loop)]
    threads += [threading.Thread(target=write_loop, args=(n,)) for n in range(writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    outcome.seconds = time.monotonic() - started
    engine.dispose()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rpc-url", help="an anvil to use (default: start a fresh one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="medledger-sqlite-writers-") as tmp:
        node = None
        rpc_url = args.rpc_url
        if rpc_url is None:
            node = AnvilProcess(port=free_port(), log_file=Path(tmp) / "anvil.log")
            node.start()
            rpc_url = node.url
        try:
            outcome = run(
                rpc_url=rpc_url,
                database=Path(tmp) / "index.db",
                writers=args.writers,
                seconds=args.seconds,
            )
        finally:
            if node is not None:
                node.stop()
    if args.json:
        print(json.dumps(outcome.as_dict()))
    else:
        for key, value in outcome.as_dict().items():
            print(f"{key:>16}  {value}")
        for sample in outcome.samples:
            print(f"  error: {sample}")
    return 0 if outcome.locked == 0 and outcome.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
