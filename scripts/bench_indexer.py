"""Indexer benchmark: catch-up speed over 50,000 events, and an access query over 1M rows.

Prints a table (or, with ``--json``, one JSON object with ``indexer_events_s_sqlite``,
``indexer_events_s_postgres`` and ``access_query_ms_1m``). ``scripts/bench_storage.py`` calls
:func:`run` for its indexer section; this script runs it alone.

How it is measured:

- **catch-up**: a fresh anvil, the contracts deployed, one doctor and 64 records registered,
  then 1,000 ``AccessLog.logAccessBatch`` transactions of 50 entries each, signed locally and
  sent in batches without waiting for receipts (50,000 ``AccessLogged`` events). A fresh,
  migrated database per backend; the clock covers ``Indexer.run_once()`` from an empty cursor
  to the head: ``eth_getLogs``, decoding, patient look-ups and the bulk writes.
- **query**: 1,000,000 synthetic ``access_events`` rows (10,000 patients) written straight into
  the table (PostgreSQL ``COPY``, SQLite ``executemany``), then one patient's latest 50 events
  through the ``(patient, block_number, log_index)`` index; the median over 200 patients.

PostgreSQL comes from ``--postgres-url``, ``MEDLEDGER_BENCH_POSTGRES_URL`` or
``MEDLEDGER_TEST_POSTGRES_URL`` and runs in a throw-away schema; without one, only SQLite runs.

Targets: indexer ≥ 5,000 events/s into PostgreSQL; query ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from eth_account import Account
from web3 import Web3

import contracts
from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.deploy import Deployment, deploy_all
from ledger_api.chain.relayer import Relayer
from ledger_api.indexer import Indexer
from storage.db import create_engine, migrate, session_factory
from storage.models import AccessEvent

# anvil's well-known development keys (mnemonic "test test ... junk"): dev chain only.
DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RELAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DOCTOR = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"

EVENTS_TARGET = 5_000.0
QUERY_TARGET_MS = 50.0
BATCH = 50
SEND_CHUNK = 100
BATCH_GAS = 600_000


@dataclass(frozen=True)
class BenchRow:
    """One line of the table; same fields as ``bench_storage.Row`` so rows can be merged."""

    metric: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None


def postgres_url(explicit: str | None = None) -> str | None:
    return (
        explicit
        or os.environ.get("MEDLEDGER_BENCH_POSTGRES_URL")
        or os.environ.get("MEDLEDGER_TEST_POSTGRES_URL")
        or None
    )


@contextmanager
def database(kind: str, workdir: Path, pg_url: str | None) -> Iterator[str]:
    """A migrated, empty database of ``kind``; PostgreSQL in a schema dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{secrets.token_hex(4)}.db'}"
        migrate(url)
        yield url
        return
    assert pg_url is not None
    schema = f"medledger_bench_{secrets.token_hex(4)}"
    admin = create_engine(pg_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = (
        sa.engine.make_url(pg_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        migrate(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _data(w3: Web3, deployment: Deployment, name: str, fn: str, *args: Any) -> bytes:
    contract = w3.eth.contract(address=deployment.address(name), abi=contracts.load(name)["abi"])
    return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])


def generate_events(w3: Web3, *, events: int) -> Deployment:
    """Deploy, register 64 records, then emit ``events`` AccessLogged in 50-entry batches."""
    relayer_address = Account.from_key(RELAYER_KEY).address
    deployment = deploy_all(w3, deployer_key=DEPLOYER_KEY, relayer=relayer_address)
    admin, relayer = Relayer(w3, DEPLOYER_KEY), Relayer(w3, RELAYER_KEY)
    consortium = deployment.address("Consortium")
    code = b"cd3h".ljust(32, b"\0")
    admin.send_and_wait(
        to=consortium,
        data=_data(w3, deployment, "Consortium", "addInstitution", "cd3h", code, DOCTOR),
    )
    role = b"role:doctor".ljust(32, b"\0")
    admin.send_and_wait(
        to=consortium,
        data=_data(w3, deployment, "Consortium", "enrolMember", DOCTOR, 1, 1, [role]),
    )
    record_ids = [secrets.token_bytes(32) for _ in range(64)]
    patients = [Account.create().address for _ in range(16)]
    entries = [
        (rid, patients[i % len(patients)], DOCTOR, "bafy-b", "bafy-h", rid, rid, rid)
        for i, rid in enumerate(record_ids)
    ]
    relayer.send_and_wait(
        to=deployment.address("RecordRegistry"),
        data=_data(w3, deployment, "RecordRegistry", "registerBatch", entries),
    )
    access_log = deployment.address("AccessLog")
    calls = []
    for t in range(events // BATCH):
        batch = [
            (record_ids[(t * BATCH + i) % len(record_ids)], DOCTOR, i % 5, i % 7 != 0, i % 3)
            for i in range(BATCH)
        ]
        calls.append((access_log, _data(w3, deployment, "AccessLog", "logAccessBatch", batch)))
    hashes: list[str] = []
    for i in range(0, len(calls), SEND_CHUNK):
        hashes += relayer.send_many(calls[i : i + SEND_CHUNK], gas=BATCH_GAS)
    relayer.wait_many(hashes, timeout=600)
    return deployment


def catch_up(w3: Web3, deployment: Deployment, url: str) -> tuple[float, int]:
    """Seconds to index the whole deployment into ``url`` from scratch, and events applied."""
    engine = create_engine(url)
    try:
        indexer = Indexer(w3, deployment, session_factory(engine), batch_blocks=5_000)
        started = time.perf_counter()
        applied = indexer.run_once()
        return time.perf_counter() - started, applied
    finally:
        engine.dispose()


def fill_access_events(url: str, *, rows: int, patients: int, seed: int = 7) -> list[str]:
    """Bulk-insert ``rows`` synthetic access events; returns the patient addresses used."""
    rng = random.Random(seed)
    addresses = ["0x" + rng.randbytes(20).hex() for _ in range(patients)]
    records = ["0x" + rng.randbytes(32).hex() for _ in range(patients * 4)]
    accessors = ["0x" + rng.randbytes(20).hex() for _ in range(500)]
    columns = (
        "record_id",
        "patient",
        "accessor",
        "purpose",
        "granted",
        "reason_code",
        "block_number",
        "block_time",
        "tx_hash",
        "log_index",
    )

    def synthetic() -> Iterator[tuple[Any, ...]]:
        for n in range(rows):
            block, log_index = divmod(n, 50)
            p = rng.randrange(patients)
            yield (
                records[p * 4 + rng.randrange(4)],
                addresses[p],
                accessors[rng.randrange(len(accessors))],
                rng.randrange(5),
                rng.random() < 0.9,
                0,
                block,
                1_700_000_000 + block * 2,
                "0x" + f"{block:064x}",
                log_index,
            )

    engine = create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                raw = connection.connection.driver_connection
                assert raw is not None
                with raw.cursor() as cursor:
                    sql = f"COPY access_events ({', '.join(columns)}) FROM STDIN"
                    with cursor.copy(sql) as copy:
                        for row in synthetic():
                            copy.write_row(row)
                connection.exec_driver_sql("ANALYZE access_events")
        else:
            with engine.begin() as connection:
                raw = connection.connection.driver_connection
                assert raw is not None
                sql = (
                    f"INSERT INTO access_events ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})"
                )
                raw.executemany(sql, synthetic())
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return addresses


def latest_for_patient_ms(url: str, patients: list[str], *, samples: int = 200) -> float:
    """Median wall time (ms) of "one patient's latest 50 access events" through the ORM query."""
    engine = create_engine(url)
    query = (
        sa.select(AccessEvent)
        .where(AccessEvent.patient == sa.bindparam("patient"))
        .order_by(AccessEvent.block_number.desc(), AccessEvent.log_index.desc())
        .limit(50)
    )
    timings = []
    try:
        with session_factory(engine)() as session:
            session.execute(query, {"patient": patients[0]}).all()  # warm the connection
            for patient in random.Random(3).sample(patients, samples):
                started = time.perf_counter()
                found = session.scalars(query, {"patient": patient}).all()
                timings.append((time.perf_counter() - started) * 1000)
                assert 0 < len(found) <= 50
    finally:
        engine.dispose()
    return statistics.median(timings)


def run(
    *,
    events: int = 50_000,
    query_rows: int = 1_000_000,
    pg_url: str | None = None,
) -> tuple[dict[str, float], list[BenchRow]]:
    """Run both benchmarks; returns the JSON results and the table rows."""
    pg_url = postgres_url(pg_url)
    backends = ["sqlite"] + (["postgres"] if pg_url else [])
    results: dict[str, float] = {}
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="bench-indexer-") as tmp:
        workdir = Path(tmp)
        node = AnvilProcess(port=free_port(), log_file=workdir / "anvil.log")
        node.start()
        try:
            w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 600}))
            started = time.perf_counter()
            deployment = generate_events(w3, events=events)
            rows.append(
                BenchRow("indexer: generate events (anvil)", time.perf_counter() - started, "s")
            )
            for kind in backends:
                with database(kind, workdir, pg_url) as url:
                    seconds, applied = catch_up(w3, deployment, url)
                rate = applied / seconds
                results[f"indexer_events_s_{kind}"] = round(rate, 1)
                target_ok = rate >= EVENTS_TARGET if kind == "postgres" else None
                rows.append(
                    BenchRow(
                        f"indexer catch-up {applied} events ({kind})",
                        rate,
                        "ev/s",
                        f">= {EVENTS_TARGET:.0f}" if kind == "postgres" else "",
                        target_ok,
                    )
                )
        finally:
            node.stop()
        for kind in backends:
            with database(kind, workdir, pg_url) as url:
                patients = fill_access_events(
                    url, rows=query_rows, patients=max(1, min(10_000, query_rows // 100))
                )
                ms = latest_for_patient_ms(url, patients)
            results[f"access_query_ms_1m_{kind}"] = round(ms, 3)
            rows.append(
                BenchRow(
                    f"latest 50 of a patient, {query_rows:,} rows ({kind})",
                    ms,
                    "ms",
                    f"<= {QUERY_TARGET_MS:.0f}",
                    ms <= QUERY_TARGET_MS,
                )
            )
    headline = "postgres" if pg_url else "sqlite"
    results["access_query_ms_1m"] = results[f"access_query_ms_1m_{headline}"]
    return results, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--events", type=int, default=50_000, help="AccessLogged events to index")
    parser.add_argument("--query-rows", type=int, default=1_000_000, help="synthetic rows")
    parser.add_argument("--postgres-url", default=None, help="PostgreSQL to benchmark")
    args = parser.parse_args(argv)
    results, rows = run(events=args.events, query_rows=args.query_rows, pg_url=args.postgres_url)
    if args.json:
        print(json.dumps(results, sort_keys=True))
        return 0
    width = max(len(r.metric) for r in rows)
    print(f"{'metric':<{width}}  {'value':>10}  {'unit':<5}  {'target':<8}  ok")
    for r in rows:
        ok = "" if r.ok is None else ("yes" if r.ok else "NO")
        print(f"{r.metric:<{width}}  {r.value:>10.1f}  {r.unit:<5}  {r.target:<8}  {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
