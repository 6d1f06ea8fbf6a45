"""Helpers shared by test packages (not fixtures: those live in the conftest files)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_together(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(0..count-1)`` in ``count`` threads released at once by a barrier, so that the
    calls really overlap; each slot holds the result or the exception raised."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
