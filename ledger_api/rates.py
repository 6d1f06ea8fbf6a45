"""Rates as settings write them: ``"10/minute"``, ``"20/hour"``, ``"100/10s"``, ``"unlimited"``.

A module of its own, below both :mod:`ledger_api.config` (which checks every rate setting when
the settings are read, so a typo fails the start, not the first request) and
:mod:`ledger_api.services.rate_limits` (which enforces them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_WINDOW", "Rate", "parse_rate"]

MAX_WINDOW = 86_400  # the longest window: one day
_UNITS = {"s": 1, "second": 1, "minute": 60, "m": 60, "hour": 3600, "h": 3600, "day": 86_400}
_RATE = re.compile(r"\s*([0-9]{1,9})\s*/\s*([0-9]{0,6})\s*([a-z]+?)s?\s*")


@dataclass(frozen=True)
class Rate:
    """``count`` hits per ``seconds``; ``count`` None is unlimited."""

    count: int | None
    seconds: int

    def __str__(self) -> str:
        return "unlimited" if self.count is None else f"{self.count}/{self.seconds}s"


def parse_rate(text: str) -> Rate:
    """``"10/minute"``, ``"20/hour"``, ``"100/10s"``, ``"5/2minutes"`` or ``"unlimited"``."""
    if text.strip().lower() == "unlimited":
        return Rate(None, 1)
    match = _RATE.fullmatch(text.lower())
    unit = _UNITS.get(match.group(3)) if match else None
    if match is None or unit is None:
        raise ValueError(
            f"a rate is N/period (10/minute, 20/hour, 100/10s) or 'unlimited', not {text!r}"
        )
    seconds = int(match.group(2) or 1) * unit
    if not 1 <= seconds <= MAX_WINDOW:
        raise ValueError(f"a rate's period is 1 second to 1 day, not {text!r}")
    return Rate(int(match.group(1)), seconds)
