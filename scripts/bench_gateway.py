"""Gateway benchmark: change-capture lag, FHIR mapping rate, end-to-end share rate, MLLP rate.

- **cdc_lag_p50_ms / cdc_lag_p95_ms** — commit in the HIS database to the FHIR Observation on
  the NATS JetStream topic, log-based capture (MariaDB binlog ROW on a private server started
  here in a temp folder, as the tests do); rows are committed one by one every 20 ms and the
  lag is the consumer's receive time minus the commit's return. Target p95 ≤ 1 s.
- **fhir_rows_per_s_per_core** — HIS rows (lab results and diagnoses) mapped with the JSONata
  mappings and validated (fhir.resources R4B + the profile), per CPU second of one process.
  Target ≥ 2,000.
- **shared_rows_per_s** — end to end through one gateway into a local MedLedger (anvil, the
  API in a subprocess, as ``bench_api.py`` brings it up): ``--rows`` lab results (10,000 by
  default) captured from an embedded SQLite HIS and shared; the gateway is killed with
  SIGKILL after a third and restarted, then every row must be on chain exactly once. Reported;
  the API's share rate bounds it (``docs/bench-api.md``).
- **mllp_msgs_per_s** — ORU^R01 messages (one numeric OBX) sent over one MLLP connection,
  each parsed, mapped, validated, staged and acknowledged before the next. Target ≥ 500.

    python scripts/bench_gateway.py           # table
    python scripts/bench_gateway.py --json    # one JSON object
    python scripts/bench_gateway.py --quick   # smoke run (1,000 rows end to end)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.table import Table

TARGETS = {
    "cdc_lag_p50_ms": None,
    "cdc_lag_p95_ms": ("<=", 1000.0),
    "fhir_rows_per_s_per_core": (">=", 2000.0),
    "shared_rows_per_s": None,
    "mllp_msgs_per_s": (">=", 500.0),
}


class _NoLedger:
    def share_fhir(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("not sharing in this measurement")

    def close(self) -> None:
        pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_fhir(n: int) -> float:
    import sqlalchemy as sa

    from clients.gateway.config.project import load_project
    from clients.gateway.connectors.sql import row_dict
    from clients.gateway.fhir.mapping import Mapper
    from clients.gateway.sample.his import HisGenerator, create_his, his_tables, seed_his
    from clients.gateway.sample.project import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        project = load_project(write_sample(Path(tmp) / "gw"))
        engine = sa.create_engine("sqlite://")
        tables = his_tables()
        create_his(engine, tables)
        seed_his(engine, tables, patients=50, labs_each=1)
        gen = HisGenerator(3)
        with engine.begin() as conn:
            conn.execute(
                tables.lab_result.insert(), [gen.lab_result(f"P{i % 50 + 1:06d}") for i in range(n)]
            )
            labs = [row_dict(r) for r in conn.execute(tables.lab_result.select())]
            dxs = [row_dict(r) for r in conn.execute(tables.diagnosis.select())]
        lab, dx = Mapper(project.mappings["lab-observation"]), Mapper(project.mappings["condition"])
        for row in labs[:50]:
            lab.apply(row)  # warm up (imports, caches)
        started = time.process_time()
        for row in labs:
            lab.apply(row)
        for _ in range(max(1, n // len(dxs) // 10)):
            for row in dxs:
                dx.apply(row)
        spent = time.process_time() - started
        done = len(labs) + max(1, n // len(dxs) // 10) * len(dxs)
        return done / spent


def bench_mllp(n: int) -> tuple[float, float]:
    """(messages per second of wall time, the gateway's CPU milliseconds per message: the
    process's CPU time less the sending thread's)."""
    from clients.gateway.hl7.mllp import send
    from clients.gateway.runtime import Runtime
    from clients.gateway.sample.project import SampleOptions, write_sample

    with tempfile.TemporaryDirectory() as tmp:
        root = write_sample(
            Path(tmp) / "gw", SampleOptions(his_url=f"sqlite:///{tmp}/his.db", mllp_port=0)
        )
        runtime = Runtime(root, open_client=_NoLedger, with_topics=False)
        port = runtime.start_listeners()["hl7-lab"]
        messages = [
            "\r".join(
                [
                    f"MSH|^~\\&|LIS|PJXRMYY|GW|PJXRMYY|20261207083000||ORU^R01^ORU_R01|B{i:07d}|P|2.5",
                    f"PID|1||P{i % 100:06d}^^^PJXRMYY^MR||王^芳||19700101|F",
                    "OBR|1|O1|L1|24331-1^血脂^LN|||20261207080000",
                    f"OBX|1|NM|2345-7^葡萄糖^LN||{4 + i % 30 / 10}|mmol/L^^UCUM|3.9-6.1|N|||F",
                ]
            )
            + "\r"
            for i in range(n)
        ]
        send("127.0.0.1", port, messages[:20])  # warm up
        started, cpu, client = time.perf_counter(), time.process_time(), time.thread_time()
        answers = send("127.0.0.1", port, messages[20:])
        client = time.thread_time() - client
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu - client
        runtime.stop()
        if not all("MSA|AA|" in a for a in answers):
            raise RuntimeError("an MLLP message was not accepted")
        return len(answers) / elapsed, cpu / len(answers) * 1000


def bench_cdc(n: int) -> tuple[float, float]:
    from clients.gateway.runtime import Runtime
    from clients.gateway.sample.his import HisGenerator
    from tests.gateway.conftest import His
    from tests.gateway.servers import mariadb_server

    with mariadb_server() as url, tempfile.TemporaryDirectory() as tmp:
        name = f"bench{os.getpid()}"
        his = His(
            url,
            Path(tmp) / "gw",
            "b_",
            capture_mode="log",
            nats_url="nats://127.0.0.1:4222",
            name=name,
        )
        conf = his.root / "connections" / "his.yaml"
        conf.write_text(conf.read_text().replace("poll_s: 0.2", "poll_s: 0.05"))
        runtime = Runtime(his.root, open_client=_NoLedger)
        assert runtime.topics is not None
        runtime.start(listeners=False)
        committed: dict[str, float] = {}
        lags: list[float] = []
        stop = threading.Event()

        def consume() -> None:
            while not stop.is_set() or len(lags) < len(committed):
                for msg in runtime.topics.consume("lab-results", "bench", n=100, timeout=0.05):  # type: ignore[union-attr]
                    got = time.time()
                    key = msg.value["id"].removeprefix("lab-")
                    while key not in committed and not stop.is_set():
                        time.sleep(0.001)
                    if key in committed:
                        lags.append((got - committed[key]) * 1000)
                if stop.is_set() and time.time() > deadline:
                    return

        deadline = time.time() + 3600
        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        gen = HisGenerator(5)
        time.sleep(1.0)  # the snapshot of the empty table, then streaming
        for i in range(n):
            with his.engine.begin() as conn:
                new_id = conn.execute(
                    his.tables.lab_result.insert(), gen.lab_result(f"P{i % 20:06d}")
                ).inserted_primary_key[0]
            committed[str(new_id)] = time.time()
            time.sleep(0.02)
        deadline = time.time() + 15
        stop.set()
        reader.join(20)
        stream = f"GW_{name}_LAB-RESULTS".upper().replace("-", "_")
        runtime.topics.brokers["broker"].delete_stream(stream)  # type: ignore[attr-defined]
        runtime.stop()
        if len(lags) < n:
            raise RuntimeError(f"only {len(lags)} of {n} changes reached the topic")
        return statistics.median(lags), percentile(lags, 0.95)


def bench_shared(rows: int) -> float:
    from bench_api_stack import local_stack

    from clients.gateway.runtime import Runtime
    from clients.gateway.sample.his import HisGenerator
    from tests.gateway.conftest import His

    with local_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        his = His(
            f"sqlite:///{tmp}/his.db",
            Path(tmp) / "gw",
            "his_",
            delay_s=0.0,
            medledger_url=stack.url,
        )
        setup = Runtime(his.root, open_client=_NoLedger, with_topics=False)
        from eth_account import Account

        for i in range(20):
            setup.sink.link(f"P{i:06d}", Account.create().address)  # type: ignore[union-attr]
        state = setup.store.path
        setup.stop()
        gen = HisGenerator(9)
        base = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5)
        with his.engine.begin() as conn:
            conn.execute(
                his.tables.lab_result.insert(),
                [
                    gen.lab_result(f"P{i % 20:06d}", updated_at=base + dt.timedelta(milliseconds=i))
                    for i in range(rows)
                ],
            )
        env = {**os.environ, "MEDLEDGER_GATEWAY_KEY": stack.people["cardiologist"].key.hex()}
        log = open(Path(tmp) / "gateway.log", "ab")  # noqa: SIM115

        def shared() -> int:
            if not state.exists():
                return 0
            with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10) as db:
                return int(
                    db.execute("SELECT COUNT(*) FROM shared WHERE state = 'shared'").fetchone()[0]
                )

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "clients.gateway.cli", "run", str(his.root)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[1],
            )

        head = stack.head()
        started = time.perf_counter()
        proc = start()
        while shared() < rows // 3:
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = start()
        deadline = time.monotonic() + rows  # generous: a second a row
        while shared() < rows and time.monotonic() < deadline:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        registered, _txs = stack.registrations(head)
        if shared() != rows or registered != rows:
            raise RuntimeError(f"{shared()} shared locally, {registered} on chain, of {rows}")
        return rows / elapsed


def verdict(key: str, value: float) -> str:
    target = TARGETS[key]
    if target is None:
        return "report"
    op, bound = target
    return "yes" if (value <= bound if op == "<=" else value >= bound) else "NO"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--rows", type=int, default=None, help="rows shared end to end (10,000)")
    parser.add_argument("--skip-shared", action="store_true", help="leave out the end-to-end run")
    args = parser.parse_args(argv)
    rows = args.rows or (1000 if args.quick else 10_000)
    results: dict[str, float] = {}
    results["fhir_rows_per_s_per_core"] = bench_fhir(1000 if args.quick else 5000)
    results["mllp_msgs_per_s"], results["mllp_cpu_ms_per_msg"] = bench_mllp(
        300 if args.quick else 2000
    )
    p50, p95 = bench_cdc(50 if args.quick else 300)
    results["cdc_lag_p50_ms"], results["cdc_lag_p95_ms"] = p50, p95
    if not args.skip_shared:
        results["shared_rows_per_s"] = bench_shared(rows)
    results = {k: round(v, 1) for k, v in results.items()}
    if args.json:
        print(json.dumps(results))
        return 0
    load = os.getloadavg()[0]
    table = Table(
        title=f"gateway benchmark ({os.cpu_count()} cores, load {load:.1f}; {rows} rows end to end)"
    )
    for column in ("measure", "value", "target", "met"):
        table.add_column(column)
    for key in TARGETS:
        if key not in results:
            continue
        if key == "mllp_msgs_per_s":
            per_core = 1000 / results["mllp_cpu_ms_per_msg"]
            table.add_row(
                "mllp msgs/s per gateway core",
                f"{per_core:,.1f} ({results['mllp_cpu_ms_per_msg']:.2f} ms CPU each)",
                ">= 500",
                verdict(key, per_core),
            )
        target = TARGETS[key]
        table.add_row(
            key,
            f"{results[key]:,.1f}",
            "—" if target is None else f"{target[0]} {target[1]:,.0f}",
            verdict(key, results[key]),
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
