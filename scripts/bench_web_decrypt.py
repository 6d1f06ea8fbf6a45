#!/usr/bin/env python3
"""Decryption in the page, ms per record (issue 19's ``decrypt_ms_per_record``, target ≤ 40 ms).

Runs ``clients/webwallet/bench/bench_chromium.mjs`` (Debian's Chromium: the page's own
modules bundled by vite, mcl-wasm's WebAssembly inlined, served on 127.0.0.1) and
``bench_node.mjs`` (the same code in node). Each decrypts a Python-made envelope v3 record
(``clients/webwallet/test/fixtures/envelope_v3.json``: two institution slots, a 0.5 KiB FHIR
Observation) end to end as a reader does once the bytes arrived — header CID and body SHA-256
checked against the registration, header parsed, the slot's points subgroup-checked, FAME's six
pairings (member key) or X25519 (patient slot), body decrypted, author's seal verified — and
reports the median over ``n`` runs after a warm-up.

Keys: ``decrypt_ms_per_record`` (Chromium, member key), ``decrypt_ms_per_record_patient``
(Chromium, patient slot), ``pairing_ms`` (one mcl-wasm pairing in Chromium), ``mcl_load_ms``
(compiling the WebAssembly, once per page), and the same measured in node under ``node``.
``scripts/bench_web.py`` reads :func:`figures` for its ``decrypt_ms_per_record``.

Usage: ``python scripts/bench_web_decrypt.py [--json] [-n 30]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "clients" / "webwallet" / "bench"


def _run(script: str, n: int) -> dict[str, Any]:
    env = {**os.environ, "CHROMIUM": shutil.which("chromium") or "/usr/bin/chromium"}
    done = subprocess.run(
        ["node", str(BENCH / script), str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.exit(f"{script} failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def figures(n: int = 30) -> dict[str, Any]:
    """The decryption figures (Chromium first, node under ``node``)."""
    page = _run("bench_chromium.mjs", n)
    node = _run("bench_node.mjs", n)
    return {
        "decrypt_ms_per_record": page["member_ms"],
        "decrypt_ms_per_record_patient": page["patient_ms"],
        "pairing_ms": page["pairing_ms"],
        "mcl_load_ms": page["mcl_load_ms"],
        "browser": page["browser"],
        "runs": n,
        "node": {k: node[k] for k in ("member_ms", "patient_ms", "pairing_ms", "mcl_load_ms")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("-n", type=int, default=30, help="runs per figure (median)")
    args = parser.parse_args(argv)
    result = figures(args.n)
    if args.json:
        print(json.dumps(result))
        return 0
    node = result["node"]
    rows = [
        (
            "decrypt, member key (FAME, 6 pairings)",
            result["decrypt_ms_per_record"],
            node["member_ms"],
            "≤ 40",
        ),
        (
            "decrypt, patient slot (X25519)",
            result["decrypt_ms_per_record_patient"],
            node["patient_ms"],
            "—",
        ),
        ("one pairing (mcl-wasm)", result["pairing_ms"], node["pairing_ms"], "—"),
        ("mcl-wasm load, once per page", result["mcl_load_ms"], node["mcl_load_ms"], "—"),
    ]
    print(f"| figure (ms, median of {result['runs']}) | Chromium | node | target |")
    print("|---|---:|---:|---|")
    for name, page, in_node, target in rows:
        print(f"| {name} | {page} | {in_node} | {target} |")
    print(f"Chromium {result['browser']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
