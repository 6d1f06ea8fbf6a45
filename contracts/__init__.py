"""Compiled MedLedger contracts (``contracts/build/*.json``) and a loader for them.

The artifacts are committed data written by ``scripts/compile_contracts.py``; loading them needs
no compiler, so the API and the clients run without Node.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

BUILD_DIR = Path(__file__).resolve().parent / "build"
NAMES = (
    "Consortium",
    "RecordRegistry",
    "ConsentManager",
    "AccessLog",
    "Workflow",
    "EmergencyAccess",
    "EmergencyKeys",
    "Marketplace",
)


class UnknownContractError(LookupError):
    """No compiled artifact has that name."""


@cache
def _read(name: str) -> str:
    return (BUILD_DIR / f"{name}.json").read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """The artifact of ``name``: ``abi``, ``bytecode``, ``deployedBytecode``, ``compiler``, ...

    A fresh dict on every call, so a caller may modify it without affecting the next one.
    """
    if name not in NAMES:
        raise UnknownContractError(f"unknown contract {name!r}; known: {', '.join(NAMES)}")
    return json.loads(_read(name))
