"""The wallet's CID fixtures are made by storage/unixfs.py and up to date."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from storage.unixfs import CHUNK_SIZE, MAX_LINKS, import_file
from tests.wallet.conftest import ROOT

SCRIPT = ROOT / "scripts" / "export_cids.py"
FIXTURES = ROOT / "clients/webwallet/test/fixtures/cids.json"


def test_cid_fixtures_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_cid_fixtures_cover_the_shapes_the_brief_names() -> None:
    """Empty, one byte, one chunk exactly, a chunk and a byte, and a two-level tree with
    Kubo's own parameters; plus an exactly filled tree, where the importer takes its other
    branch."""
    fixtures = json.loads(FIXTURES.read_text(encoding="utf-8"))
    kubo = {
        c["size"]: c
        for c in fixtures["cases"]
        if (c["chunkSize"], c["maxLinks"]) == (CHUNK_SIZE, MAX_LINKS)
    }
    for size in (0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, MAX_LINKS * CHUNK_SIZE + 1):
        assert size in kubo
    assert kubo[0]["cid"].startswith("bafk")
    assert kubo[CHUNK_SIZE]["cid"].startswith("bafk")
    assert kubo[CHUNK_SIZE + 1]["cid"].startswith("bafy")
    # two levels: 175 leaves, two depth-1 nodes, one root
    assert kubo[MAX_LINKS * CHUNK_SIZE + 1]["blocks"] == MAX_LINKS + 1 + 2 + 1
    assert kubo[MAX_LINKS * CHUNK_SIZE]["blocks"] == MAX_LINKS + 1
    assert kubo[0]["sha256"] == hashlib.sha256(b"").hexdigest()
    # the fixtures' generator is not all zeros (then every leaf would be the same block)
    assert kubo[1000]["cid"] != str(import_file(bytes(1000)).cid)
