#!/usr/bin/env python3
"""Export Python-made CIDs the wallet's ``src/cid.js`` must reproduce.

The wallet signs the header and body CIDs of a record before it uploads them, and the
contract only accepts the registration when they are the CIDs the API stores, so the
JavaScript importer must compute exactly what :func:`storage.unixfs.import_file` does
(``ipfs add --cid-version=1 --raw-leaves``). This script writes
``clients/webwallet/test/fixtures/cids.json``: for each case a size, the importer's chunk size
and link limit, and the root CID, DAG size and block count Python computes.

Only CIDs are stored, never the data: each input is the first ``size`` bytes of an
AES-256-CTR keystream (the key and initial counter block are in the fixture), pseudo-random and
generated identically by ``cryptography`` here and WebCrypto in the test, which also compares
the data's SHA-256 before it compares CIDs. Sizes cover the empty file, one byte, one chunk
exactly, one chunk and a byte, the browser's 32 MiB limit, a depth-1 tree filled exactly and
the first two-level tree with Kubo's parameters, and deeper or exactly filled trees with the
small chunk sizes and link limits ``import_file`` accepts for tests.

``--check`` regenerates in memory and exits 1 when the committed file is stale
(``tests/wallet/test_export_cids.py`` runs it). The output is deterministic.

Usage: ``python scripts/export_cids.py [--check]``
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from generated_files import ROOT, render, sync

from storage.unixfs import CHUNK_SIZE, MAX_LINKS, import_file

FIXTURES = ROOT / "clients" / "webwallet" / "test" / "fixtures" / "cids.json"

STREAM_KEY = hashlib.sha256(b"medledger cid fixture").digest()
STREAM_COUNTER = bytes(16)

KUBO_CASES = [
    0,
    1,
    1000,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    2 * CHUNK_SIZE,
    32 * 1024 * 1024,  # the largest file the browser uploads: 128 leaves under one node
    MAX_LINKS * CHUNK_SIZE,  # one full depth-1 node
    MAX_LINKS * CHUNK_SIZE + 1,  # the first file needing two levels
]
# (size, chunk size, link limit): deeper trees than a test can afford with Kubo's parameters
SMALL_CASES = [
    (0, 16, 2),
    (16, 16, 2),
    (17, 16, 2),
    (48, 16, 2),
    (64, 16, 2),  # 4 leaves = 2^2: the root committed when the tree filled up
    (65, 16, 2),
    (144, 16, 2),  # 9 leaves: depth 4
    (100, 1, 2),  # 100 one-byte leaves: depth 7
    (27_000, 1000, 3),  # 27 leaves = 3^3 exactly
    (27_001, 1000, 3),
    (10_001, 1000, 3),
    (5 * 7 * 100 + 3, 100, 7),
]


def keystream(size: int) -> bytes:
    """The first ``size`` bytes of AES-256-CTR(STREAM_KEY, STREAM_COUNTER)."""
    encryptor = Cipher(algorithms.AES(STREAM_KEY), modes.CTR(STREAM_COUNTER)).encryptor()
    return encryptor.update(bytes(size)) + encryptor.finalize()


def case(size: int, chunk_size: int, max_links: int) -> dict[str, Any]:
    data = keystream(size)
    result = import_file(data, chunk_size=chunk_size, max_links=max_links)
    return {
        "size": size,
        "chunkSize": chunk_size,
        "maxLinks": max_links,
        "sha256": hashlib.sha256(data).hexdigest(),
        "cid": str(result.cid),
        "dagSize": result.dag_size,
        "blocks": result.blocks,
    }


def fixtures() -> dict[str, Any]:
    cases = [case(size, CHUNK_SIZE, MAX_LINKS) for size in KUBO_CASES]
    cases += [case(*small) for small in SMALL_CASES]
    return {
        "chunkSize": CHUNK_SIZE,
        "maxLinks": MAX_LINKS,
        "stream": {
            "cipher": "AES-256-CTR",
            "key": STREAM_KEY.hex(),
            "counter": STREAM_COUNTER.hex(),
        },
        "cases": cases,
    }


def outputs() -> dict[Path, str]:
    return {FIXTURES: render(fixtures())}


def main(argv: list[str] | None = None) -> int:
    return sync(outputs, script="export_cids.py", doc=__doc__ or "", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
