#!/usr/bin/env python3
"""Figures of the clinicians' workstation in the browser (issue 19).

- ``bundle_kib_gzip``: what a clinician's browser downloads on first load — every JavaScript
  and CSS asset of a fresh ``vite build`` of ``clients/workstation``, gzip level 9 (what the
  API's reverse proxy or CDN would send), in KiB; reported, no target.
- ``first_record_ms`` (sign-in to the first decrypted record of a 50-record chart, target
  ≤ 2 s), ``decrypt_ms_per_record`` (target ≤ 40 ms) and ``upload_200mib_peak_mib`` (memory of a
  200 MiB upload in a Web Worker, target ≤ 64 MiB) need the in-page decryption and the worker
  upload, which are not in this build (``clients/workstation/src/crypto/index.js`` still
  refuses): they are ``null`` with a note until then, never a made-up number.

Usage: ``python scripts/bench_web.py [--json]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VITE = ROOT / "node_modules" / ".bin" / "vite"
CONFIG = ROOT / "clients" / "workstation" / "vite.config.mjs"
PENDING = "needs in-page decryption (clients/workstation/src/crypto/index.js), not built yet"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        sizes = bundle_sizes(Path(tmp))
    figures = {
        "bundle_kib_gzip": sizes["gzip_kib"],
        "bundle_kib_raw": sizes["raw_kib"],
        "first_record_ms": None,
        "decrypt_ms_per_record": None,
        "upload_200mib_peak_mib": None,
        "notes": {
            "first_record_ms": PENDING,
            "decrypt_ms_per_record": PENDING,
            "upload_200mib_peak_mib": "needs the Web Worker upload (issue 19, wallet part)",
        },
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    rows = [
        ("bundle, gzip -9 (JS + CSS)", f"{sizes['gzip_kib']} KiB", "report"),
        ("bundle, raw", f"{sizes['raw_kib']} KiB", "report"),
        ("sign-in → first decrypted record (50 records)", "—", "≤ 2000 ms"),
        ("decryption per record", "—", "≤ 40 ms"),
        ("200 MiB upload, worker peak memory", "—", "≤ 64 MiB"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")
    print(f"— : {PENDING}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
