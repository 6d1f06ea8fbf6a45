"""Storage benchmark: CID computation against raw sha-256, LocalBlockStore put/get, the index.

Prints a table with a target and an ok column, or (``--json``) one JSON object whose keys
include ``cid_mb_s``, ``sha256_mb_s``, ``put_mb_s_64mib``, ``get_mb_s_64mib`` and the
indexer's ``indexer_events_s_sqlite``, ``indexer_events_s_postgres``, ``access_query_ms_1m``.

Every section appends to one ``results`` dict and one list of rows; a new section is one
function with the signature of :func:`blocks_section`, called from :func:`main`.

Why these targets:
- CID >= 70 % of sha-256: the importer hashes each 256 KiB chunk once (hashlib releases the
  GIL and uses SHA-NI) and derives the leaf CID from that digest; anything much slower means
  a copy or a second hash crept in.
- put 64 MiB >= 64 MB/s (a large imaging attachment stored, fsynced, in about a second);
  get >= 125 MB/s (verified reads keep up with a 1 Gbit/s link to the doctor's client);
  4 KiB puts >= 100/s (far above the rate the chain can register records); a single writer
  is bounded by three ordered fsyncs per put, so the fsync latency is printed beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.blocks import LocalBlockStore
from storage.unixfs import CHUNK_SIZE, import_file

MIB = 1 << 20


@dataclass(frozen=True)
class Row:
    metric: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None


Results = dict[str, float]
Rows = list[Row]


def _best_of(runs: int, fn: Callable[[], object]) -> float:
    """Fastest wall time of ``runs`` calls: the least disturbed by the 5 other engineers."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size // MIB):
            handle.write(os.urandom(MIB))


def cid_section(results: Results, rows: Rows, *, workdir: Path, mib: int) -> None:
    """CID of a file vs sha256sum (the binary) and hashlib over the same bytes."""
    path = workdir / "cid-input.bin"
    _random_file(path, mib * MIB)
    size_mb = mib * MIB / 1e6

    def hashlib_file() -> None:
        digest = hashlib.sha256()
        with path.open("rb", buffering=0) as handle:
            buffer = bytearray(CHUNK_SIZE)  # the importer's read size: same cache behaviour
            view = memoryview(buffer)
            while n := handle.readinto(buffer):
                digest.update(view[:n])

    def sha256sum() -> None:
        subprocess.run(["sha256sum", str(path)], check=True, stdout=subprocess.DEVNULL)

    def cid() -> None:
        with path.open("rb", buffering=0) as handle:
            import_file(handle)

    cid()  # warm the page cache
    # Interleaved best-of-5: on a shared machine, a burst of load hits both sides alike.
    best = {"hashlib": float("inf"), "sha256sum": float("inf"), "cid": float("inf")}
    runs = {"hashlib": hashlib_file, "cid": cid}
    if shutil.which("sha256sum"):
        runs["sha256sum"] = sha256sum
    for _ in range(5):
        for name, fn in runs.items():
            best[name] = min(best[name], _best_of(1, fn))
    sha256_mb_s = size_mb / best["hashlib"]
    sha256sum_mb_s = size_mb / best["sha256sum"]
    cid_mb_s = size_mb / best["cid"]
    reference = max(sha256_mb_s, sha256sum_mb_s)
    ratio = cid_mb_s / reference
    results.update(
        cid_mb_s=round(cid_mb_s, 1),
        sha256_mb_s=round(sha256_mb_s, 1),
        sha256sum_mb_s=round(sha256sum_mb_s, 1),
        cid_vs_sha256=round(ratio, 3),
    )
    rows += [
        Row(f"sha-256, hashlib ({mib} MiB file)", sha256_mb_s, "MB/s"),
        Row(f"sha-256, sha256sum binary ({mib} MiB file)", sha256sum_mb_s, "MB/s"),
        Row(f"CID, UnixFS importer ({mib} MiB file)", cid_mb_s, "MB/s"),
        Row("CID / fastest sha-256", ratio * 100, "%", ">= 70 %", ratio >= 0.70),
    ]
    path.unlink()


def blocks_section(results: Results, rows: Rows, *, workdir: Path, big_mib: int) -> None:
    """LocalBlockStore put and get (fsync on, distinct random objects, verified reads)."""
    cases = [("4kib", 4096, 400), ("1mib", MIB, 32), (f"{big_mib}mib", big_mib * MIB, 2)]
    targets = {
        "put_objects_s_4kib": (100.0, ">= 100 obj/s"),
        "put_mb_s_64mib": (64.0, ">= 64 MB/s"),
        "get_mb_s_64mib": (125.0, ">= 125 MB/s"),
    }
    for label, size, count in cases:
        store = LocalBlockStore(workdir / f"store-{label}")
        objects = [os.urandom(size) for _ in range(count)]
        start = time.perf_counter()
        cids = [store.put(data) for data in objects]
        put_s = time.perf_counter() - start
        start = time.perf_counter()
        got = sum(len(piece) for cid in cids for piece in store.get(cid))
        get_s = time.perf_counter() - start
        if got != size * count:
            raise SystemExit(f"read back {got} bytes, wrote {size * count}")
        total_mb = size * count / 1e6
        for op, seconds in (("put", put_s), ("get", get_s)):
            mb_s, obj_s = total_mb / seconds, count / seconds
            results[f"{op}_mb_s_{label}"] = round(mb_s, 1)
            results[f"{op}_objects_s_{label}"] = round(obj_s, 1)
            for key, value, unit in (
                (f"{op}_mb_s_{label}", mb_s, "MB/s"),
                (f"{op}_objects_s_{label}", obj_s, "obj/s"),
            ):
                bound, text = targets.get(key, (None, ""))
                ok = None if bound is None else value >= bound
                rows.append(Row(f"LocalBlockStore {op} {label} x{count}", value, unit, text, ok))
        shutil.rmtree(store.root)


def fsync_section(results: Results, rows: Rows, *, workdir: Path) -> None:
    """Latency of one fsync of a fresh 4 KiB file: the floor under every durable put."""
    samples = []
    for i in range(30):
        path = workdir / f"fsync-{i}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, os.urandom(4096))
        start = time.perf_counter()
        os.fsync(fd)
        samples.append(time.perf_counter() - start)
        os.close(fd)
        path.unlink()
    median_ms = sorted(samples)[len(samples) // 2] * 1000
    results["fsync_ms_median"] = round(median_ms, 2)
    rows.append(Row("fsync of a 4 KiB file (median; 3 ordered per put)", median_ms, "ms"))
    # The disk's own ceiling for a durable 64 MiB write: one file, written and fsynced.
    data = os.urandom(64 * MIB)
    path = workdir / "fsync-64mib"
    start = time.perf_counter()
    with path.open("wb", buffering=0) as handle:
        handle.write(data)
        os.fsync(handle.fileno())
    disk_mb_s = len(data) / 1e6 / (time.perf_counter() - start)
    path.unlink()
    results["disk_write_fsync_mb_s"] = round(disk_mb_s, 1)
    rows.append(Row("disk: write + fsync one 64 MiB file (ceiling)", disk_mb_s, "MB/s"))


def concurrent_small_puts_section(results: Results, rows: Rows, *, workdir: Path) -> None:
    """4 KiB puts from 8 threads, as concurrent API requests would issue them."""
    store = LocalBlockStore(workdir / "store-threads")
    objects = [os.urandom(4096) for _ in range(400)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(store.put, objects))
    rate = len(objects) / (time.perf_counter() - start)
    results["put_objects_s_4kib_8threads"] = round(rate, 1)
    rows.append(
        Row("LocalBlockStore put 4kib x400, 8 threads", rate, "obj/s", ">= 100 obj/s", rate >= 100)
    )
    shutil.rmtree(store.root)


def indexer_section(results: Results, rows: Rows) -> None:
    """Relational index benchmark — owned by the index engineer (``scripts/bench_indexer.py``).

    Fills ``indexer_events_s_sqlite``, ``indexer_events_s_postgres`` and
    ``access_query_ms_1m`` in ``results`` and appends its rows.
    """
    from bench_indexer import run as run_indexer_bench  # scripts/ is sys.path[0] here

    found, extra = run_indexer_bench()
    results.update(found)
    rows.extend(Row(r.metric, r.value, r.unit, r.target, r.ok) for r in extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cid-mib", type=int, default=256, help="size of the CID input")
    parser.add_argument("--big-mib", type=int, default=64, help="size of the large objects")
    args = parser.parse_args(argv)

    results: Results = {}
    rows: Rows = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-", dir=os.getcwd()) as tmp:
        workdir = Path(tmp)
        cid_section(results, rows, workdir=workdir, mib=args.cid_mib)
        fsync_section(results, rows, workdir=workdir)
        blocks_section(results, rows, workdir=workdir, big_mib=args.big_mib)
        concurrent_small_puts_section(results, rows, workdir=workdir)
    indexer_section(results, rows)

    if args.json:
        print(json.dumps(results, sort_keys=True))
        return 0
    width = max(len(r.metric) for r in rows)
    print(f"{'metric':<{width}}  {'value':>10}  {'unit':<6}  {'target':<13}  ok")
    for r in rows:
        ok = "" if r.ok is None else ("yes" if r.ok else "NO")
        print(f"{r.metric:<{width}}  {r.value:>10.1f}  {r.unit:<6}  {r.target:<13}  {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
