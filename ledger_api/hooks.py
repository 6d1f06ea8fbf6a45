"""Fault-injection points for tests, passed to ``create_app(hooks=...)``.

Crash safety is a property of the write order (blocks, then a ``pending`` row, then the chain),
and the only honest way to test it is to make the process fail *between* two steps. These
hooks are that seam: explicit constructor arguments rather than monkeypatching, so the code
under test is the code that runs in production, where every hook is ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Hooks:
    """Callbacks the services call at the named points; each may raise to simulate a crash."""

    # Called with the 32-byte record id after the body and header blocks are stored and the
    # ``pending`` row is committed, before the registration is sent to the chain.
    after_blocks_stored: Callable[[bytes], None] | None = None
    # Called with the 32-byte opening id once a break-glass opening passed every check of the
    # API (the daily-cap pre-check included), before its transaction is sent: a test holds
    # concurrent openings here to show the chain, not the pre-check, enforces the cap.
    before_break_glass_sent: Callable[[bytes], None] | None = None

    def fire_after_blocks_stored(self, record_id: bytes) -> None:
        if self.after_blocks_stored is not None:
            self.after_blocks_stored(record_id)

    def fire_before_break_glass_sent(self, opening_id: bytes) -> None:
        if self.before_break_glass_sent is not None:
            self.before_break_glass_sent(opening_id)


NO_HOOKS = Hooks()
