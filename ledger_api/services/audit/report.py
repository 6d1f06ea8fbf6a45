"""What ``/audit/verify`` answers: the problems found in each section, and how far it got.

The verification streams over the block range, so the report is the only thing that grows
with it; it is kept bounded too. Once :data:`MAX_PROBLEMS` problems are listed, the
verification stops at the end of the chunk it is in and says so (``complete`` false,
``last_block_checked``): the client continues from the next block with ``from_block``. The
same happens when the time budget of one call is spent. A report is ``ok`` only when it is
complete and found nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHECKED", "MAX_PROBLEMS", "SECTIONS", "VerifyReport"]

MAX_PROBLEMS = 1_000

SECTIONS = ("index_vs_chain", "bodies", "read_signatures", "justifications")

# what ``checked`` counts (events, entries or records seen), every key present from the start
CHECKED = (
    "records",
    "consents",
    "revocations",
    "access_events",
    "key_issuances",
    "referrals",
    "consultations",
    "workflow_transitions",
    "opinions",
    "institutions",
    "members",
    "break_glass_openings",
    "read_signatures",
    "justifications",
    "bodies",
)


@dataclass
class VerifyReport:
    """One verification call's findings.

    ``index_vs_chain``: index rows against chain events, field by field, both directions
    (records, consents, access events, key issuances, referrals, consultations, workflow
    transitions, opinions, break-glass openings, institutions, members).
    ``bodies``: stored blocks against on-chain digests.
    ``read_signatures``: ``AccessLogged`` entries whose reader signature does not verify.
    ``justifications``: granted entries whose justification names nothing on chain that
    grants that read.
    """

    from_block: int
    to_block: int
    indexed_to: int
    last_block_checked: int = -1
    complete: bool = False
    stopped_because: str | None = None
    index_vs_chain: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    read_signatures: list[dict[str, Any]] = field(default_factory=list)
    justifications: list[dict[str, Any]] = field(default_factory=list)
    # acknowledged actions a chain rollback erased that the healer could not put back, and
    # record slots that survived without their event (ledger_api.services.healer)
    unhealed: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKED, 0))
    not_yet_indexed: int = 0
    chunks: int = 0
    max_problems: int = MAX_PROBLEMS  # :func:`~.verification.verify_range` may ask for fewer

    def count(self, name: str, n: int = 1) -> None:
        self.checked[name] = self.checked.get(name, 0) + n

    @property
    def problems(self) -> int:
        return sum(len(getattr(self, name)) for name in SECTIONS) + len(self.unhealed)

    @property
    def full(self) -> bool:
        """Enough problems listed: stop after this chunk (the client resumes after it)."""
        return self.problems >= self.max_problems

    @property
    def ok(self) -> bool:
        return self.complete and self.problems == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "complete": self.complete,
            "stopped_because": self.stopped_because,
            "from_block": self.from_block,
            "to_block": self.to_block,
            "last_block_checked": self.last_block_checked,
            "indexed_to": self.indexed_to,
            "not_yet_indexed": self.not_yet_indexed,
            "chunks": self.chunks,
            "checked": dict(self.checked),
            **{name: list(getattr(self, name)) for name in SECTIONS},
            "unhealed": list(self.unhealed),
        }
