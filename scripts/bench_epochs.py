#!/usr/bin/env python3
"""Member-revocation benchmark: the window during which a removed member's key still opens
old ciphertexts, measured end to end on a local stack (``docs/key-epochs.md``).

Scenario (``bench_api_stack.local_stack``: anvil, contracts, one key authority process per
institution, uvicorn, all local; the patient has granted the cardiologist their chart): the
patient shares ``--records`` records under ``dept:cardiology``; the cardiologist fetches
``--fetched`` of them; her institution's admin removes her (t0), which moves that
institution's epoch on chain in the same transaction. Measured from t0:

- ``gate_s``: until the API refuses the removed cardiologist (``MEMBER_LEFT``);
- ``epoch_s``: until a client reads the institution's new epoch from ``Consortium``;
- ``window_s``: until the last stale record is re-keyed by the patient's client with the
  patient's own key (``rekey_stale``: every record whose slot of that institution is under the
  old epoch re-encrypted in full) — the end of the cryptographic window;
- ``rekeys_per_s`` over the job, with ``reencrypts`` counted.

Usage::

    python scripts/bench_epochs.py                 # a table
    python scripts/bench_epochs.py --json          # one JSON object
    python scripts/bench_epochs.py --records 200 --fetched 20 --size 4096
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients.sdk import MedLedgerClient
from clients.sdk.errors import NotAllowedError
from ledger_api.chain.consortium import Consortium
from ledger_api.chain.devnode import DEV_ADMIN_KEY
from ledger_api.chain.relayer import Relayer


def wait_until(check: Any, *, timeout: float, poll: float = 0.05) -> None:
    """Until ``check()`` is true (TimeoutError after ``timeout`` seconds)."""
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"not reached within {timeout:.0f} s")
        time.sleep(poll)


def measure(*, records: int, fetched: int, size: int) -> dict[str, Any]:
    from bench_api_stack import local_stack

    with local_stack() as stack:
        me = stack.patient
        patient = stack.client("patient").sdk
        leaver = stack.client("cardiologist")
        shared = [
            patient.share(os.urandom(size), patient=me, policy="dept:cardiology",
                          record_type="Observation").record_id
            for _ in range(records)
        ]  # fmt: skip
        for record_id in shared[:fetched]:
            leaver.retrieve(record_id)
        admin = Consortium(
            stack.w3,
            patient.chain_info().addresses["Consortium"],
            sender=Relayer(stack.w3, DEV_ADMIN_KEY),
        )
        cd3h = admin.member_info(stack.people["cardiologist"].address).institution_id
        epoch_before = patient.institution_epochs()[cd3h][0]
        t0 = time.perf_counter()
        admin.remove_member(account=stack.people["cardiologist"].address).wait()

        def refused() -> bool:
            try:
                leaver.retrieve(shared[0])
            except NotAllowedError:
                return True
            return False

        wait_until(refused, timeout=60)
        gate = time.perf_counter() - t0
        wait_until(lambda: patient.institution_epochs()[cd3h][0] > epoch_before, timeout=60)
        epoch = time.perf_counter() - t0
        job_start = time.perf_counter()
        report = patient.rekey_stale(patient=me)  # the patient's own key
        job = time.perf_counter() - job_start
        window = time.perf_counter() - t0
        check = MedLedgerClient(stack.url, account=stack.people["patient"])
        check.login()
        left = len(check.stale_records(patient=me)[1])
        check.close()
    return {
        "records": records,
        "fetched": fetched,
        "size_bytes": size,
        "gate_s": gate,
        "epoch_s": epoch,
        "window_s": window,
        "job_s": job,
        "rekeys_per_s": len(report.records) / job if job > 0 else 0.0,
        "reencrypts": report.count("re-encrypted"),
        "failed": report.count("failed"),
        "stale_left": left,
        "cores": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--records", type=int, default=50, help="records in the chart")
    parser.add_argument("--fetched", type=int, default=5, help="of which the leaver read")
    parser.add_argument("--size", type=int, default=4096, help="plaintext bytes per record")
    args = parser.parse_args(argv)
    if args.records < 1 or not 0 <= args.fetched <= args.records or args.size < 1:
        print("error: need 1 ≤ records, 0 ≤ fetched ≤ records, size ≥ 1", file=sys.stderr)
        return 2
    try:
        results = measure(records=args.records, fetched=args.fetched, size=args.size)
    except Exception as exc:  # one line, as the other benches do
        print(f"error: the local stack failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results))
        return 0 if results["failed"] == 0 and results["stale_left"] == 0 else 1
    table = Table(
        title=f"member removal: {args.records} records of {args.size} B, "
        f"{args.fetched} read by the removed member"
    )
    table.add_column("measure")
    table.add_column("value")
    table.add_row("API refuses the removed member after", f"{results['gate_s']:.2f} s")
    table.add_row("new epoch announced after", f"{results['epoch_s']:.2f} s")
    table.add_row("window (removal → last record re-keyed)", f"{results['window_s']:.2f} s")
    table.add_row("re-key job", f"{results['job_s']:.2f} s")
    table.add_row("re-keys per second", f"{results['rekeys_per_s']:.1f}")
    counts = f"{results['reencrypts']} / {results['failed']}"
    table.add_row("re-encrypted / failed", counts)
    table.add_row("stale records left", str(results["stale_left"]))
    Console().print(table)
    return 0 if results["failed"] == 0 and results["stale_left"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
