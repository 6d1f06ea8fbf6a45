"""A CPU-sampling profiler for the API process of ``bench_api.py`` (stdlib only).

cProfile distorts a server like ours badly: its per-call cost is largest exactly where the code
is call-heavy (web3's middleware, eth-abi), and with a CPU-time timer it adds a system call per
Python call. This sampler instead wakes every ``interval`` seconds, reads each thread's CPU
clock, and charges the CPU time each thread used since the last wake-up to that thread's
current stack — threads waiting for the chain, the disk or the GIL are charged nothing. The
report lists functions by *self* time (the leaf) and by *inclusive* time (anywhere on the
stack), as a share of all CPU time sampled. It is statistical: time is charged where the
thread is at the sample, not where it was when it used it.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from pathlib import Path
from types import FrameType


class Sampler:
    """Start with :meth:`start`; :meth:`stop` writes the text report to ``path``."""

    def __init__(self, path: Path, *, interval: float = 0.002) -> None:
        self.path = path
        self.interval = interval
        self._self: collections.Counter[str] = collections.Counter()
        self._inclusive: collections.Counter[str] = collections.Counter()
        self._total = 0.0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _cpu_time(self, ident: int) -> float | None:
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(ident))
        except (OSError, ValueError):
            return None

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                used = self._cpu_time(ident)
                if used is None:
                    continue
                before = self._cpu.get(ident)
                self._cpu[ident] = used
                if before is not None and used > before:
                    self._charge(frame, used - before)

    def _charge(self, frame: FrameType | None, seconds: float) -> None:
        self._total += seconds
        seen: set[str] = set()
        leaf = True
        while frame is not None:
            code = frame.f_code
            name = f"{code.co_filename.split('site-packages/')[-1]}:{code.co_name}"
            if leaf:
                self._self[name] += seconds  # type: ignore[assignment]
                leaf = False
            if name not in seen:
                self._inclusive[name] += seconds  # type: ignore[assignment]
                seen.add(name)
            frame = frame.f_back

    def stop(self, top: int = 60) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        total = max(self._total, 1e-9)
        lines = [f"{self._total:.2f} CPU seconds sampled every {self.interval * 1000:.0f} ms", ""]
        for title, counter in (("self", self._self), ("inclusive", self._inclusive)):
            lines.append(f"--- by {title} samples")
            for name, count in counter.most_common(top):
                lines.append(f"{100 * count / total:6.1f}%  {name}")
            lines.append("")
        self.path.write_text("\n".join(lines))
