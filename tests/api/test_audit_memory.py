"""``/audit/verify`` streams: its peak memory over 10,000 blocks is within 2× of over 100.

The chain gets the same density of events throughout: every 50th block carries a batch of
16 signed reads (granted: each reader is the record's patient), the blocks between are mined
empty (``anvil_mine``, dev tooling). 10,000 blocks then hold 3,200 ``AccessLogged`` entries,
all indexed, all of whose signatures and justifications the verification checks, against
32 in 100 blocks (sparser than it could be: each entry's signature check costs CPU, and the
suite's time counts). The verification reads chunks of at most 100 blocks, so the 100-block run
is one full chunk and the 10,000-block run a hundred of them: an implementation that held
the range (events, rows, anything per event) would need about a hundred times the memory.

Peak memory is measured with ``tracemalloc`` (every Python allocation, in every thread: the
API's own indexer thread is disabled and the indexer run here, before measuring), each after
an untraced warm-up run so that one-off caches (ABIs, compiled SQL) count in neither figure,
and with the interpreter's tuple free lists filled beforehand (see :func:`_measure`).
The module has its own anvil: 10,000 extra blocks are no business of the session's chain.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from ledger_api.chain.anvil import AnvilProcess, free_port
from ledger_api.chain.connection import rpc
from ledger_api.indexer import Indexer
from ledger_api.services.access import Reason
from ledger_api.services.audit.verification import verify_range
from tests.api.audit_support import entry, upload
from tests.api.conftest import Stack

pytestmark = pytest.mark.slow

EVERY = 50  # one batch per this many blocks
BATCH = 16  # signed entries per batch
CHUNK = 100  # blocks per chunk
WARM_UP = 300  # blocks verified untraced before each measure


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    node = AnvilProcess(port=free_port(), log_file=tmp_path_factory.mktemp("anvil") / "anvil.log")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"indexer_enabled": False}


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    """SQLite only: what is measured is the verification's Python memory, not the server's."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def _fill(s: Stack, blocks: int) -> int:
    """``blocks`` blocks from the next one, a batch of signed reads every ``EVERY``th;
    returns the first of them."""
    record = upload(s, s.cardiologist, s.patient)
    entries = [entry(s, s.patient, record, reason=int(Reason.SELF)) for _ in range(BATCH)]
    log = s.ctx.chain.access_log
    first = s.w3.eth.block_number + 1
    for _ in range(blocks // EVERY):
        mined = log.log_access_batch(entries).wait()
        assert mined.block_number == s.w3.eth.block_number  # one block per batch
        rpc(s.w3, "anvil_mine", [hex(EVERY - 1), hex(0)])
    indexer = Indexer(s.w3, s.deployment, s.ctx.sessions)
    indexer.run_once()
    assert indexer.cursor() >= first + blocks - 1
    return first


def _verify(s: Stack, start: int, blocks: int, **chunking: int) -> dict[str, Any]:
    with s.ctx.sessions() as db:
        return verify_range(
            w3=s.w3,
            deployment=s.deployment,
            store=s.ctx.store,
            db=db,
            start=start,
            end=start + blocks - 1,
            **chunking,
        ).as_dict()


def _fill_free_lists() -> None:
    """Fill the interpreter's tuple free lists (2,000 of each size below 20), untraced."""
    for size in range(1, 20):
        held = [(i,) * size for i in range(2_000)]
        del held


def _measure(s: Stack, start: int, blocks: int, **chunking: int) -> tuple[int, dict[str, Any]]:
    """Peak traced memory of one verification, above what was allocated before it.

    Tuples freed into the interpreter's free lists while tracing stay counted as allocated
    (tracemalloc sees no free), and a free list fills a little more the longer a run goes:
    a 2,000-block run was charged about 0.35 MB of them. They are the interpreter's, bounded,
    and emptied by a full collection, so they are filled before tracing starts: what is
    measured is the verification's own memory."""
    gc.collect()
    _verify(s, start, WARM_UP, **chunking)  # one-off caches: ABIs, compiled SQL, imports
    _fill_free_lists()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        report = _verify(s, start, blocks, **chunking)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before, report


def test_peak_memory_over_10000_blocks_is_within_twice_that_over_100(api_stack: Stack) -> None:
    s = api_stack
    start = _fill(s, 10_000)
    small, small_report = _measure(s, start, 100, max_blocks=CHUNK)
    began = time.monotonic()
    large, large_report = _measure(s, start, 10_000, max_blocks=CHUNK)
    seconds = time.monotonic() - began
    for report in (small_report, large_report):
        assert report["ok"] is True, {k: report[k] for k in ("index_vs_chain", "justifications")}
    assert small_report["checked"]["access_events"] == 100 // EVERY * BATCH
    assert large_report["checked"]["access_events"] == 10_000 // EVERY * BATCH
    assert large_report["checked"]["read_signatures"] == 10_000 // EVERY * BATCH
    assert large_report["chunks"] == 10_000 // CHUNK
    print(
        f"\npeak over 100 blocks: {small / 1e6:.2f} MB; over 10,000 blocks: "
        f"{large / 1e6:.2f} MB ({large / small:.2f}x), {seconds:.1f} s for "
        f"{large_report['checked']['access_events']} entries"
    )
    assert large <= 2 * small, (small, large)
    # the default chunking (up to 2,000 blocks, about 1,000 logs a window) stays bounded too:
    # a window of this chain holds about 1,000 entries however long the range
    default, report = _measure(s, start, 10_000)
    print(f"default chunking over 10,000 blocks: {default / 1e6:.2f} MB, {report['chunks']} chunks")
    assert report["ok"] is True
