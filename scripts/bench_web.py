#!/usr/bin/env python3
"""Figures of the clinicians' workstation in the browser (issue 19).

- ``bundle_kib_gzip``: what a clinician's browser downloads on first load — every JavaScript
  and CSS asset of a fresh ``vite build`` of ``clients/workstation``, gzip level 9 (what the
  API's reverse proxy or CDN would send), in KiB; reported, no target.
- ``decrypt_ms_per_record`` (target ≤ 40 ms): the in-page decryption of one envelope v3 record
  with a member key in Debian's Chromium, from ``scripts/bench_web_decrypt.figures()`` (the
  same modules the workstation's ``crypto/index.js`` calls; median of ``-n`` runs).
- ``upload_200mib_peak_mib`` (memory of a 200 MiB upload in a Web Worker, target ≤ 64 MiB):
  measured here by running
  ``tests/wallet/test_browser_upload_v3.py::test_patient_uploads_a_large_file_from_a_worker_with_bounded_memory``
  with ``MEDLEDGER_LARGE_UPLOAD_MIB=200`` (a real stack, Debian's Chromium with a profile on
  disk, a 200 MiB file of random bytes picked in the wallet and uploaded): the peak over the
  upload of the summed resident memory (VmRSS, from /proc, every 100 ms) of every Chromium
  process (browser, renderer with the page and its worker, GPU, network, storage…), less that
  sum just before the click on "upload"; the test writes it to
  ``tests/wallet/artifacts/upload-large-200mib.json`` (``growthMib``, with ``fileMib``, the
  per-process split and the total when the upload from disk starts). ``--no-upload`` reads that
  file as a previous run left it instead (``null`` with a note when absent or not 200 MiB).
- ``first_record_ms`` (sign-in to the first decrypted record of a 50-record chart, target
  ≤ 2 s): from ``scripts/bench_web_chart.measure()`` on the same build — a real stack (anvil,
  each institution's own key authority process, v3 records), Debian's Chromium, from the click
  on "sign in" with a ``medledger wallet`` keystore (scrypt 2^18) to the first record decrypted
  and shown; ``unlock_ms`` (the keystore's scrypt in the page) and
  ``first_record_after_unlock_ms`` say how much of it is the wallet's key derivation, and
  ``first_record_stages`` where the rest went (the page's own marks, ms from the click).
  ``--no-chart`` skips it (``null`` with a note).

Usage: ``python scripts/bench_web.py [--json] [--no-chart] [--no-upload]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VITE = ROOT / "node_modules" / ".bin" / "vite"
CONFIG = ROOT / "clients" / "workstation" / "vite.config.mjs"
UPLOAD_ARTIFACT = ROOT / "tests" / "wallet" / "artifacts" / "upload-large-200mib.json"
FIRST_RECORD_NOTE = "not measured: --no-chart"
UPLOAD_TEST = (
    "tests/wallet/test_browser_upload_v3.py"
    "::test_patient_uploads_a_large_file_from_a_worker_with_bounded_memory"
)
UPLOAD_MIB = 200
UPLOAD_NOTE = (
    f"{UPLOAD_ARTIFACT.relative_to(ROOT)} absent or not of a {UPLOAD_MIB} MiB file: run without "
    f"--no-upload (or MEDLEDGER_LARGE_UPLOAD_MIB={UPLOAD_MIB} pytest {UPLOAD_TEST})"
)


def build(out: Path) -> None:
    if not VITE.exists():
        sys.exit(f"{VITE} is missing: run `make install`")
    done = subprocess.run(
        [VITE, "build", "--config", CONFIG, "--outDir", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        sys.exit(f"vite build failed:\n{done.stdout}\n{done.stderr}")


def bundle_sizes(dist: Path) -> dict[str, float]:
    """KiB of each asset, raw and gzip -9."""
    raw = gz = 0
    for path in sorted((dist / "assets").iterdir()):
        if path.suffix not in (".js", ".css"):
            continue
        data = path.read_bytes()
        raw += len(data)
        gz += len(gzip.compress(data, compresslevel=9, mtime=0))
    return {"raw_kib": round(raw / 1024, 1), "gzip_kib": round(gz / 1024, 1)}


def measure_upload() -> None:
    """Run the wallet's large-upload browser test on a 200 MiB file (it writes the artifact)."""
    env = {**os.environ, "MEDLEDGER_LARGE_UPLOAD_MIB": str(UPLOAD_MIB)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", UPLOAD_TEST, "-x", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if done.returncode != 0:
        tail = f"{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
        sys.exit(f"the {UPLOAD_MIB} MiB upload test failed:\n{tail}")


def upload_peak() -> float | None:
    """The 200 MiB worker upload's memory growth (MiB), as the wallet's e2e test recorded it."""
    if not UPLOAD_ARTIFACT.is_file():
        return None
    page = json.loads(UPLOAD_ARTIFACT.read_text(encoding="utf-8"))
    growth = page.get("growthMib")
    if growth is None or page.get("fileMib") != UPLOAD_MIB:
        return None
    return round(float(growth), 1)


def decrypt_figures(n: int) -> dict[str, Any]:
    """scripts/bench_web_decrypt.py's figures (Chromium and node)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_web_decrypt import figures

    return figures(n)


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("-n", type=int, default=30, help="decryption runs (median)")
    parser.add_argument("--runs", type=int, default=3, help="sign-in runs (median)")
    parser.add_argument("--no-chart", action="store_true", help="skip first_record_ms")
    parser.add_argument(
        "--no-upload",
        action="store_true",
        help="read upload_200mib_peak_mib from the last large-upload test's artifact",
    )
    args = parser.parse_args(argv)
    chart: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        sizes = bundle_sizes(Path(tmp))
        if not args.no_chart:
            sys.path.insert(0, str(ROOT / "scripts"))
            from bench_web_chart import measure

            chart = measure(Path(tmp), runs=args.runs)
    decrypt = decrypt_figures(args.n)
    if not args.no_upload:
        measure_upload()
    upload = upload_peak()
    notes = {} if chart else {"first_record_ms": FIRST_RECORD_NOTE}
    first = None if chart is None else chart["first_record_ms"]
    unlock = None if chart is None else chart["unlock_ms"]
    after_unlock = None if chart is None else chart["after_unlock_ms"]
    if upload is None:
        notes["upload_200mib_peak_mib"] = UPLOAD_NOTE
    figures = {
        "bundle_kib_gzip": sizes["gzip_kib"],
        "bundle_kib_raw": sizes["raw_kib"],
        "first_record_ms": first,
        "unlock_ms": unlock,
        "first_record_after_unlock_ms": after_unlock,
        "first_record_stages": None if chart is None else chart["stages"],
        "chart_runs": None if chart is None else chart["runs"],
        "decrypt_ms_per_record": decrypt["decrypt_ms_per_record"],
        "decrypt_ms_per_record_patient": decrypt["decrypt_ms_per_record_patient"],
        "mcl_load_ms": decrypt["mcl_load_ms"],
        "upload_200mib_peak_mib": upload,
        "notes": notes,
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    rows = [
        ("bundle, gzip -9 (JS + CSS)", f"{sizes['gzip_kib']} KiB", "report"),
        ("bundle, raw", f"{sizes['raw_kib']} KiB", "report"),
        ("sign-in → first decrypted record (50 records)", ms(first), "≤ 2000 ms"),
        ("  of which keystore unlock (scrypt 2^18)", ms(unlock), "report"),
        ("  the rest: SIWE, timeline, reads, key, decrypt", ms(after_unlock), "report"),
        ("decryption per record (member key)", f"{decrypt['decrypt_ms_per_record']} ms", "≤ 40 ms"),
        (
            "decryption per record (patient slot)",
            f"{decrypt['decrypt_ms_per_record_patient']} ms",
            "report",
        ),
        ("mcl-wasm load (once per page)", f"{decrypt['mcl_load_ms']} ms", "report"),
        (
            "200 MiB upload, worker peak memory",
            "—" if upload is None else f"{upload} MiB",
            "≤ 64 MiB",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")
    for key, note in notes.items():
        print(f"— {key}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
