"""Scale benchmark: the API's reads at 1k and at 1M records (10M access events) in PostgreSQL.

Issue 17: a consortium's index grows to millions of rows; every read a person or an auditor
makes must cost what its own answer costs, not what the table holds. This script measures the
same calls at two sizes and checks each large figure is within 2x of its small one.

How it runs:

1. A dedicated PostgreSQL schema (``--schema``, default ``medledger_scale``, dropped and made
   again) and the local stack of ``bench_api_stack.py`` (anvil, contracts, the demo
   consortium, the API in its own process) pointed at it.
2. **Real chain events**: the cardiologist shares ``--real`` records into the patient's chart
   (encrypted, stored, registered on chain) and reads each back (a signed ``AccessLogged``
   each); then 10,000 empty blocks are mined, so ``/audit/verify`` has a 10,000-block range
   holding every real event. The API's indexer puts them in the index.
3. **Fill** with synthetic rows by ``COPY`` straight into ``records`` and ``access_events``
   (10 records per patient, 10 access events per record, 1,000 events per accessor), first
   up to 1,000 records, measure, then up to ``--records`` (1,000,000: 100,000 patients and
   10,000,000 access events), ``ANALYZE``, measure again. Synthetic rows sit at block numbers
   far above the chain's head, so the real 10,000-block range stays exactly the chain's and
   ``/audit/verify`` reports no problem at either size.
4. **Measure**, through HTTP, the fastest of ``--reps`` calls (see :func:`best_ms`): the
   patient's chart listing and timeline (as the patient), the auditor's access-event query by
   patient and by accessor, and ``/audit/verify`` over the 10,000 blocks; for the last, also the API
   process's memory growth (peak RSS during the call, ``/proc/<pid>/clear_refs`` reset
   before it, minus RSS before).

Prints a table, or with ``--json`` one object: ``{figure}_ms_1k``, ``{figure}_ms_big`` and
``{figure}_ratio`` per figure, ``verify_mib_1k``, ``verify_mib_big``, ``records``,
``access_events``, ``fill_s``. ``--records 20000`` gives a quick run.

PostgreSQL comes from ``--postgres-url``, ``MEDLEDGER_BENCH_POSTGRES_URL`` or
``MEDLEDGER_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT), str(ROOT / "scripts")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench_api_stack import BenchStack, local_stack  # noqa: E402

from storage.db import create_engine  # noqa: E402

SMALL = 1_000
RECORDS_PER_PATIENT = 10
EVENTS_PER_RECORD = 10
EVENTS_PER_ACCESSOR = 1_000
VERIFY_BLOCKS = 10_000
SYNTHETIC_BLOCK = 100_000_000  # far above any real head: synthetic rows never meet the chain
COPY_CHUNK = 20_000
MAX_RATIO = 2.0
NOW_TEXT = "2026-12-07 00:00:00+00"


def postgres_url(explicit: str | None) -> str:
    url = (
        explicit
        or os.environ.get("MEDLEDGER_BENCH_POSTGRES_URL")
        or os.environ.get("MEDLEDGER_TEST_POSTGRES_URL")
    )
    if not url:
        raise SystemExit(
            "bench_scale needs PostgreSQL: --postgres-url or $MEDLEDGER_BENCH_POSTGRES_URL"
        )
    return url


def schema_url(base: str, schema: str) -> str:
    return (
        sa.engine.make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}", "application_name": schema})
        .render_as_string(hide_password=False)
    )


def reset_schema(base: str, schema: str) -> None:
    """Drop and re-create ``schema`` (ending connections a previous run left on it)."""
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :s AND pid <> pg_backend_pid()"
                ),
                {"s": schema},
            )
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    finally:
        admin.dispose()


# ------------------------------------------------------------------ synthetic rows


def _addr(kind: int, n: int) -> str:
    return f"0x{kind:02x}{n:038x}"


def _b32(kind: int, n: int) -> str:
    return f"0x{kind:02x}{n:062x}"


def record_lines(start: int, stop: int) -> Iterator[str]:
    """``records`` rows ``start`` … ``stop - 1`` in COPY text format."""
    for i in range(start, stop):
        patient = _addr(0xA1, i // RECORDS_PER_PATIENT)
        block = SYNTHETIC_BLOCK + i // 10
        rid = _b32(0xB1, i)
        yield (
            f"{rid}\t{patient}\t{patient}\t0\tbafy-body-{i}\tbafy-header-{i}\t{rid}\t{rid}\t"
            f"{rid}\t2026-01-01\t4096\t1\t1\tactive\tconfirmed\t{_b32(0xC1, block)}\t{block}\t"
            f"{i % 10}\t1765000000\t{block}\t{i % 10}\t{NOW_TEXT}\t{NOW_TEXT}\n"
        )


RECORD_COLUMNS = (
    "record_id, patient, author, author_institution, body_cid, header_cid, body_sha256, "
    "policy_hash, record_type, record_date, stored_bytes, epoch, version, status, state, "
    "tx_hash, block_number, log_index, registered_at, updated_block, updated_log_index, "
    "created_at, updated_at"
)


def event_lines(start: int, stop: int) -> Iterator[str]:
    """``access_events`` rows ``start`` … ``stop - 1``: event n reads record n // 10."""
    for n in range(start, stop):
        record = n // EVENTS_PER_RECORD
        block = SYNTHETIC_BLOCK + n // 50
        granted = "f" if n % 9 == 0 else "t"
        yield (
            f"{_b32(0xB1, record)}\t{_addr(0xA1, record // RECORDS_PER_PATIENT)}\t"
            f"{_addr(0xD1, n // EVENTS_PER_ACCESSOR)}\t0\t{granted}\t0\t{block}\t"
            f"{1765000000 + n // 50}\t{_b32(0xE1, block)}\t{n % 50}\n"
        )


EVENT_COLUMNS = (
    "record_id, patient, accessor, purpose, granted, reason_code, block_number, block_time, "
    "tx_hash, log_index"
)


def copy_rows(url: str, table: str, columns: str, lines: Iterator[str]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                chunk: list[str] = []
                for line in lines:
                    chunk.append(line)
                    if len(chunk) >= COPY_CHUNK:
                        copy.write("".join(chunk))
                        chunk.clear()
                if chunk:
                    copy.write("".join(chunk))
    finally:
        engine.dispose()


def analyze(url: str) -> None:
    """``VACUUM ANALYZE`` after a bulk load (what an operator runs, and what autovacuum would
    do later while the measurement runs): fresh statistics and visibility maps."""
    engine = create_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("VACUUM ANALYZE records"))
            connection.execute(sa.text("VACUUM ANALYZE access_events"))
    finally:
        engine.dispose()


def counts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            records = connection.execute(sa.text("SELECT count(*) FROM records")).scalar_one()
            events = connection.execute(sa.text("SELECT count(*) FROM access_events")).scalar_one()
        return int(records), int(events)
    finally:
        engine.dispose()


def fill_to(url: str, *, records: int, have_records: int, have_events: int) -> None:
    """Synthetic rows until ``records`` records and 10x as many access events."""
    copy_rows(url, "records", RECORD_COLUMNS, record_lines(have_records, records))
    events = records * EVENTS_PER_RECORD
    copy_rows(url, "access_events", EVENT_COLUMNS, event_lines(have_events, events))
    analyze(url)


# ------------------------------------------------------------------ measuring


def _rss_kib(pid: int) -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of ``pid`` in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


class Probe:
    """The calls measured, as the people who make them."""

    def __init__(self, stack: BenchStack, *, verify_from: int) -> None:
        self.stack = stack
        self.patient = stack.client("patient").sdk
        self.auditor = stack.client("auditor").sdk
        self.patient_address = stack.patient.lower()
        self.accessor = str(stack.people["cardiologist"].address).lower()
        self.verify_from = verify_from
        self.http = httpx.Client(base_url=stack.url, timeout=600)

    def _get(self, path: str, token: str | None, **params: Any) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        answer = self.http.get(path, params=params, headers=headers)
        answer.raise_for_status()
        return dict(answer.json())

    def chart(self) -> None:
        body = self._get(f"/patients/{self.patient_address}/records", self.patient.token)
        assert body["total"] > 0

    def timeline(self) -> None:
        body = self._get(f"/patients/{self.patient_address}/timeline", self.patient.token)
        assert body["total"] > 0

    def audit_patient(self) -> None:
        body = self._get("/audit/access-events", self.auditor.token, patient=self.patient_address)
        assert body["total"] > 0

    def audit_accessor(self) -> None:
        body = self._get("/audit/access-events", self.auditor.token, accessor=self.accessor)
        assert body["total"] > 0

    def verify(self) -> dict[str, Any]:
        return self._get(
            "/audit/verify",
            self.auditor.token,
            from_block=self.verify_from,
            to_block=self.verify_from + VERIFY_BLOCKS - 1,
        )

    def verify_memory_mib(self) -> float:
        """The API process's memory growth over one verification."""
        pid = self.stack.pids["api"]
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM)
        before, _ = _rss_kib(pid)
        self.verify()
        _, peak = _rss_kib(pid)
        return max(0, peak - before) / 1024


def best_ms(call: Callable[[], Any], reps: int) -> float:
    """The fastest of ``reps`` calls (after a warm-up): on a machine shared with other work
    the minimum is the figure least disturbed by it (``timeit``'s advice); the median
    swung by 3x between identical runs here."""
    call()  # warm: connection, caches, plans
    timings = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings)


FIGURES = ("chart", "timeline", "audit_patient", "audit_accessor", "verify")


def measure(probe: Probe, reps: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for name in FIGURES:
        found[name] = best_ms(getattr(probe, name), reps if name != "verify" else 15)
    report = probe.verify()
    if not report["ok"]:
        raise RuntimeError(f"/audit/verify found problems: {json.dumps(report)[:2000]}")
    found["verify_mib"] = probe.verify_memory_mib()
    return found


# ------------------------------------------------------------------ the run


def real_events(stack: BenchStack, count: int) -> int:
    """Share and read back ``count`` records for real; mine the verify range; return its
    first block."""
    first = stack.head() + 1
    cardiologist = stack.client("cardiologist")
    for n in range(count):
        info = cardiologist.share(json.dumps({"resourceType": "Observation", "n": n}).encode())
        cardiologist.retrieve(info.record_id)
    while (left := first + VERIFY_BLOCKS - 1 - stack.head()) > 0:
        # dev tooling: empty blocks, in steps a busy machine answers within the RPC timeout
        stack.w3.provider.make_request("anvil_mine", [hex(min(left, 500))])
    return first


def wait_indexed(url: str, records: int, events: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while counts(url) < (records, events):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the indexer did not catch up: {counts(url)}")
        time.sleep(0.5)


def run(*, pg: str, schema: str, records: int, real: int, reps: int) -> dict[str, Any]:
    url = schema_url(pg, schema)
    reset_schema(pg, schema)
    previous = os.environ.get("MEDLEDGER_DATABASE_URL")
    os.environ["MEDLEDGER_DATABASE_URL"] = url  # the API process inherits it
    try:
        with local_stack() as stack:
            first = real_events(stack, real)
            wait_indexed(url, real, real)
            probe = Probe(stack, verify_from=first)
            have = counts(url)
            fill_to(url, records=SMALL, have_records=have[0], have_events=have[1])
            small = measure(probe, reps)
            started = time.monotonic()
            have = counts(url)
            fill_to(url, records=records, have_records=have[0], have_events=have[1])
            fill_s = time.monotonic() - started
            total = counts(url)
            big = measure(probe, reps)
    finally:
        if previous is None:
            os.environ.pop("MEDLEDGER_DATABASE_URL", None)
        else:
            os.environ["MEDLEDGER_DATABASE_URL"] = previous
    result: dict[str, Any] = {"records": total[0], "access_events": total[1]}
    for name in FIGURES:
        result[f"{name}_ms_1k"] = round(small[name], 2)
        result[f"{name}_ms_big"] = round(big[name], 2)
        result[f"{name}_ratio"] = round(big[name] / small[name], 2)
    result["verify_mib_1k"] = round(small["verify_mib"], 1)
    result["verify_mib_big"] = round(big["verify_mib"], 1)
    result["fill_s"] = round(fill_s, 1)
    return result


def table(result: dict[str, Any]) -> str:
    big = f"{result['records']:,} rec"
    lines = [
        f"| figure | 1k records (ms) | {big} (ms) | ratio | ≤ {MAX_RATIO:g}x |",
        "|---|---|---|---|---|",
    ]
    for name in FIGURES:
        ratio = result[f"{name}_ratio"]
        lines.append(
            f"| {name} | {result[f'{name}_ms_1k']} | {result[f'{name}_ms_big']} | {ratio} | "
            f"{'ok' if ratio <= MAX_RATIO else 'NO'} |"
        )
    lines.append(
        f"| verify memory growth (MiB) | {result['verify_mib_1k']} | {result['verify_mib_big']}"
        " | | |"
    )
    lines.append(
        f"\n{result['records']:,} records, {result['access_events']:,} access events; "
        f"fill {result['fill_s']} s"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--real", type=int, default=20, help="records shared for real")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--schema", default="medledger_scale")
    parser.add_argument("--postgres-url")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.records < SMALL:
        raise SystemExit(f"--records must be at least {SMALL}")
    pg = postgres_url(args.postgres_url)
    try:
        result = run(
            pg=pg, schema=args.schema, records=args.records, real=args.real, reps=args.reps
        )
    finally:
        if not args.keep:
            with contextlib.suppress(Exception):
                admin = create_engine(pg)
                with admin.begin() as connection:
                    connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE'))
                admin.dispose()
    print(json.dumps(result) if args.json else table(result))
    ok = all(result[f"{name}_ratio"] <= MAX_RATIO for name in FIGURES)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
